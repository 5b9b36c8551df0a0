"""The campaign engine's cost: idle ticks at scale, and steps per second when sends are due.

1. 1,000,000 leads enrolled, nothing due: how long one tick takes (target <= 20 ms), on SQLite
   and on PostgreSQL wherever one answers (``--database-url``, ``NURTURE_TEST_POSTGRES_URL`` or
   postgresql://postgres@127.0.0.1:5432/test).
2. 100,000 sends due: the engine's own work (claim, decide, queue in the outbox, record; no
   transport) in steps per second on SQLite (target >= 20,000).

    .venv/bin/python benchmarks/bench_engine.py [--leads 1000000] [--due 100000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from postgres import admin_url, create_database, drop_database
from sqlalchemy import text
from sqlalchemy.engine import Engine

from nurture.definitions import content_hash, load_program
from nurture.engine.tick import CampaignEngine, TickReport
from nurture.lifecycle import Lifecycle, SalesSetup
from nurture.settings import Settings
from nurture.store.cursors import NEW_LEADS, move_cursor
from nurture.store.engine import create_store_engine
from nurture.store.migrate import upgrade
from nurture.workspace import Workspace

NOW = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)  # a Tuesday, inside any office-hours window
CAMPAIGN = """\
kind: Campaign
key: bench
entry: {on: manual}
exit_when: ["lead.lifecycle_stage in ['mql', 'customer']"]
send_window: {days: mon-fri, hours: "08:00-18:00", timezone: lead}
steps:
  - id: welcome
    send: {template: bench/welcome, subject: "Hallo {{ lead.first_name }}"}
  - id: pause
    wait: 2d
  - id: follow-up
    send: {template: bench/welcome, subject: "Noch einmal"}
"""
SALES = """\
kind: SLA
name: s
mql: {when: "lead.score >= 100"}
route_to: t
accept_within: 4h
on_breach: reassign
recycle: {campaign: bench, score: keep}
---
kind: SalesTeam
key: t
manager: {name: M, email: m@example.com}
routing: round_robin
reps:
  - {id: r, name: R, email: r@example.com, territories: [DE], capacity: 10,
     working_hours: {timezone: Europe/Berlin, days: mon-fri, hours: "08:00-18:00"}}
"""


def workspace(root: Path) -> Workspace:
    (root / "campaigns").mkdir(parents=True)
    (root / "templates" / "bench").mkdir(parents=True)
    (root / "campaigns" / "bench.yaml").write_text(CAMPAIGN + "---\n" + SALES, encoding="utf-8")
    (root / "templates" / "bench" / "welcome.html").write_text("<p>Hallo</p>", encoding="utf-8")
    return Workspace(root)


def fill(db: Engine, leads: int, due: int, version: str) -> None:
    """``leads`` leads, each enrolled; ``due`` of them due now at a send, the rest waiting for days."""
    sqlite = db.dialect.name == "sqlite"
    series = (
        f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {leads}) SELECT i FROM n"
        if sqlite
        else f"SELECT generate_series(1, {leads}) AS i"
    )
    now = NOW.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else NOW.isoformat()
    later = (
        (NOW + timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S.%f")
        if sqlite
        else (NOW + timedelta(days=2)).isoformat()
    )
    cast = "" if sqlite else "::timestamptz"
    with db.begin() as conn:
        conn.execute(text(
            "INSERT INTO leads (email, email_domain, first_name, country, timezone, lifecycle_stage, attributes, "
            f"created_at, updated_at) SELECT 'lead' || i || '@firma' || (i % 5000) || '.de', 'firma' || (i % 5000) "
            f"|| '.de', 'Anna', 'DE', 'Europe/Berlin', 'lead', '{{}}', '{now}'{cast}, '{now}'{cast} FROM ({series}) s"
        ))  # fmt: skip
        conn.execute(text(
            "INSERT INTO enrollments (lead_id, campaign_key, campaign_version, status, step_id, step_started_at, "
            f"due_at, entered_at) SELECT id, 'bench', '{version}', 'active', "
            f"CASE WHEN id <= {due} THEN 'welcome' ELSE 'pause' END, '{now}'{cast}, "
            f"CASE WHEN id <= {due} THEN '{now}'{cast} ELSE '{later}'{cast} END, '{now}'{cast} FROM leads"
        ))  # fmt: skip
        last_lead = conn.execute(text("SELECT max(id) FROM leads")).scalar_one()
        move_cursor(conn, NEW_LEADS, int(last_lead), NOW)  # steady state: nothing new
    if not sqlite:
        with db.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))


def idle_ticks(engine: CampaignEngine, runs: int = 30) -> list[float]:
    engine.tick(NOW)  # warm caches, as a daemon's tick would be
    timings = []
    for i in range(runs):
        started = time.perf_counter()
        report = engine.tick(NOW + timedelta(seconds=i + 1))
        timings.append((time.perf_counter() - started) * 1000)
        assert report.enrollments_advanced == 0, "nothing should be due"
    return timings


def due_work(engine: CampaignEngine) -> tuple[float, TickReport]:
    started = time.perf_counter()
    report = TickReport(NOW)
    engine.advance_due(NOW, report)
    return time.perf_counter() - started, report


def database(kind: str, folder: Path, admin: str | None) -> tuple[Engine, str] | None:
    if kind == "sqlite":
        return create_store_engine(f"sqlite:///{folder / 'bench.db'}"), ""
    if admin is None:
        return None
    name = f"nurture_bench_{os.getpid()}"
    return create_store_engine(create_database(admin, name)), name


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=100_000)
    parser.add_argument("--database-url", help="PostgreSQL server (default: the local one, if it answers)")
    args = parser.parse_args()
    admin = admin_url(args.database_url)
    print(f"{'engine':<11} {'scenario':<38} {'result':>22} {'target':>14}")
    for kind in ("sqlite", "postgresql"):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            made = database(kind, folder, admin)
            if made is None:
                print(f"{kind:<11} skipped: no PostgreSQL answered (--database-url)")
                continue
            db, pg_name = made
            try:
                upgrade(db)
                ws = workspace(folder / "ws")
                program = load_program(ws)
                settings = Settings(timezone="Europe/Berlin", frequency_cap=3)
                engine = CampaignEngine(
                    db, program, settings, then=Lifecycle(program, SalesSetup.of(settings, ws.root))
                )
                fill(db, args.leads, 0, content_hash(program.campaign("bench")))
                ms = idle_ticks(engine)
                p50, p95 = statistics.median(ms), statistics.quantiles(ms, n=20)[18]
                print(
                    f"{kind:<11} {f'{args.leads:,} enrolled, nothing due: tick':<38} "
                    f"{f'p50 {p50:.1f} ms, p95 {p95:.1f} ms':>22} {'<= 20 ms':>14} ({20 / p95:.1f}x)"
                )
                with db.begin() as conn:
                    conn.execute(text(
                        f"UPDATE enrollments SET step_id = 'welcome', due_at = step_started_at WHERE id <= {args.due}"
                    ))  # fmt: skip
                seconds, report = due_work(engine)
                rate = report.enrollments_advanced / seconds
                steps = (report.steps_run + report.enrollments_advanced) / seconds
                print(
                    f"{kind:<11} {f'{args.due:,} sends due: enrollments/s':<38} {f'{rate:,.0f}/s':>22} "
                    f"{'>= 20,000/s':>14} ({rate / 20000:.2f}x)  [{sum(report.queued.values()):,} queued, "
                    f"{steps:,.0f} steps/s counting parking]"
                )
            finally:
                db.dispose()
                if pg_name and admin is not None:
                    drop_database(admin, pg_name)


if __name__ == "__main__":
    main()
