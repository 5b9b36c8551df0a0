"""The whole report (every section) over a generated history: seconds and peak memory per engine.

Target: 1,000,000 leads with 10 stage changes and 30 engagement events each, under 30 s and 1 GB.
The history is written first with bulk inserts (not timed); then ``nurture report --json --by
country`` runs as the command line runs it (funnel, flows, balance, velocity, stuck leads,
touches, campaigns, SLA, attribution, money, the breakdown, score health and the audit log), in a
fresh process with the clock pinned, and its peak resident memory (VmHWM) is its own. Beside the
wall-clock seconds it prints the process's CPU seconds, which a loaded machine inflates less.
The database is migrated to head first, so it has the indexes the report reads through
(docs/reports.md, "Size"; migration 0009 adds the two on events).

SQLite always (unless ``--no-sqlite``); PostgreSQL with ``--postgres-url`` (a server where a
throwaway database may be created and dropped, e.g. ``postgresql://postgres@127.0.0.1:5432/test``).

    .venv/bin/python benchmarks/bench_report.py --quick            # 20,000 leads
    .venv/bin/python benchmarks/bench_report.py --leads 200000 --postgres-url URL

Writing a million leads' history takes a quarter of an hour (SQLite) to an hour (PostgreSQL), so it
can be kept and measured again later: with ``--keep DIR`` the SQLite database and the workspaces
stay in DIR, and with ``--postgres-database NAME`` (and ``--keep``, where the workspace and the note
of what was written stay) the PostgreSQL one is that database, never dropped. A kept history of
the same size is reused (migrated to head first), never written twice; a database of that name
that the benchmark did not write is left alone:

    .venv/bin/python benchmarks/bench_report.py --keep DIR                      # 1,000,000 leads
    .venv/bin/python benchmarks/bench_report.py --no-sqlite --keep DIR \
        --postgres-url URL --postgres-database report_bench_1m
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from synthetic_program import PROGRAM_YAML, peak_mb

from nurture.store import bulk
from nurture.store.engine import create_store_engine
from nurture.store.migrate import upgrade

START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
NOW = START + timedelta(days=420)
TARGET_S, TARGET_MB, TARGET_LEADS = 30.0, 1024, 1_000_000
QUICK = 20_000
# A lead's walk: the first 10 moves, cut to --changes (longer walks repeat the recycle loop).
WALK = ("lead", "mql", "recycled", "mql", "sal", "sql", "opportunity", "customer")
TYPES = ("email_open", "email_open", "email_click", "page_view", "email_open")
COUNTRIES = ("DE", "AT", "CH", "US", "FR")
BATCH = 5_000  # leads per insert round


def _rows(
    first: int, last: int, changes: int, per_lead: int, chance: random.Random, at: Any
) -> dict[str, list[Any]]:
    """One batch of leads with their stage changes, handoffs, enrollments and events, as tuples
    in column order (``at`` puts an instant in the engine's storage form)."""
    found: dict[str, list[Any]] = {
        "leads": [],
        "stage_changes": [],
        "handoffs": [],
        "enrollments": [],
        "events": [],
    }
    path = [WALK[0]] + [WALK[1 + (i % (len(WALK) - 1))] for i in range(changes - 1)]
    for lead_id in range(first, last + 1):
        created = START + timedelta(days=chance.uniform(0, 360))
        when, stage = created, None
        for to_stage in path[: chance.randint(1, changes)]:
            deal = to_stage == "customer"
            found["stage_changes"].append(
                (lead_id, stage, to_stage, at(when), "bench", "bench", 10_000.0 if deal else None, "EUR" if deal else None)
            )  # fmt: skip
            if to_stage == "mql":
                answered = when + timedelta(hours=chance.uniform(0.1, 30))
                found["handoffs"].append(
                    (
                        lead_id,
                        "dach",
                        "anna",
                        "accepted",
                        at(when),
                        at(when + timedelta(hours=4)),
                        at(answered),
                    )
                )
            stage, when = to_stage, when + timedelta(days=chance.expovariate(1 / 6))
        stamp = at(created)
        found["leads"].append(
            (lead_id, f"lead{lead_id}@example.com", "example.com", chance.choice(COUNTRIES), stage, "{}", stamp, stamp)
        )  # fmt: skip
        found["enrollments"].append((lead_id, "nurture", "v1", "completed", stamp))
        for _ in range(per_lead):
            machine = "privacy_proxy" if chance.random() < 0.2 else None
            occurred = at(created + timedelta(days=chance.uniform(0, 60)))
            found["events"].append(
                (lead_id, chance.choice(TYPES), stamp, occurred, "nurture", f"step-{chance.randint(1, 6)}", machine, "{}")
            )  # fmt: skip
    return found


INSERTS = {
    "leads": "INSERT INTO leads (id, email, email_domain, country, lifecycle_stage, attributes, created_at, "
    "updated_at) VALUES (:id, :email, :domain, :country, :stage, :attributes, :created, :updated)",
    "stage_changes": "INSERT INTO stage_changes (lead_id, from_stage, to_stage, at, reason, actor, amount, "
    "currency) VALUES (:lead, :old, :new, :at, :reason, :actor, :amount, :currency)",
    "handoffs": "INSERT INTO handoffs (lead_id, team_key, rep_id, status, assigned_at, accept_due_at, "
    "responded_at) VALUES (:lead, :team, :rep, :status, :assigned, :due, :responded)",
    "enrollments": "INSERT INTO enrollments (lead_id, campaign_key, campaign_version, status, entered_at) "
    "VALUES (:lead, :campaign, :version, :status, :entered)",
    "events": "INSERT INTO events (lead_id, type, received_at, occurred_at, campaign_key, step_id, "
    "machine_reason, properties) VALUES (:lead, :type, :received, :occurred, :campaign, :step, :machine, "
    ":properties)",
}


# The secondary indexes of the tables written, as the database itself states them: dropped while the
# history is written and made again after it, in one sorted pass each. Written row by row, tens of
# millions of events land in index pages in no order, and a million leads' history took hours.
_INDEXES = {
    "sqlite": "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
    "AND tbl_name IN ('leads', 'stage_changes', 'handoffs', 'enrollments', 'events')",
    "postgresql": "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = current_schema() "
    "AND i.tablename IN ('leads', 'stage_changes', 'handoffs', 'enrollments', 'events') "
    "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
}


def populate(url: str, n: int, changes: int, per_lead: int, seed: int = 1) -> None:
    engine = create_store_engine(url)
    upgrade(engine)
    chance = random.Random(seed)
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA cache_size = -1000000")  # 1 GB for the index builds' sorts
        indexes = conn.exec_driver_sql(_INDEXES[conn.dialect.name]).all()
        for name, _ in indexes:
            conn.exec_driver_sql(f'DROP INDEX "{name}"')
        at = bulk.instants(conn)
        for first in range(1, n + 1, BATCH):
            batch = _rows(first, min(first + BATCH - 1, n), changes, per_lead, chance, at)
            for table, rows in batch.items():
                sql = INSERTS[table]
                if conn.dialect.name == "postgresql":
                    sql = sql.replace(":properties", "CAST(:properties AS JSONB)")
                    sql = sql.replace(":attributes", "CAST(:attributes AS JSONB)")
                bulk.executemany_rows(conn, sql, rows)
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT setval('leads_id_seq', (SELECT MAX(id) FROM leads))")
        for _, definition in indexes:
            conn.exec_driver_sql(definition)
    with engine.connect() as conn:  # the planner's statistics, as a running database has them
        # PostgreSQL: VACUUM marks the pages all-visible, as autovacuum does in a running database,
        # so index-only scans need no look at the table.
        command = "VACUUM (ANALYZE)" if conn.dialect.name == "postgresql" else "ANALYZE"
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(command)
    engine.dispose()


def workspace(folder: Path, url: str) -> Path:
    root = folder / "ws"
    (root / "campaigns").mkdir(parents=True)
    (root / "templates").mkdir()
    (root / "nurture.toml").write_text(
        f'database_url = "{url}"\nsecret_key = "bench-secret-0123456789"\n', encoding="utf-8"
    )
    (root / "campaigns" / "program.yaml").write_text(PROGRAM_YAML, encoding="utf-8")
    return root


def measure(root: Path) -> dict[str, float]:
    """``nurture report --json --by country`` in this process, its output thrown away."""
    # why: only the measuring child loads the command line
    from nurture.cli import main

    begin, cpu = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(io.StringIO()) as out:
        main(["-w", str(root), "report", "--json", "--by", "country"], standalone_mode=False)
    seconds, cpu = time.perf_counter() - begin, time.process_time() - cpu
    report = json.loads(out.getvalue())
    return {
        "seconds": round(seconds, 2), "cpu_s": round(cpu, 2), "peak_mb": round(peak_mb()),
        "leads": report["period"]["leads"],
    }  # fmt: skip


def _shape(args: argparse.Namespace, url: str) -> dict[str, Any]:
    return {"leads": args.leads, "changes": args.changes, "events": args.events, "url": url}


def _kept(written: Path, args: argparse.Namespace, url: str) -> bool:
    """Whether ``written`` says a history of this size was fully written at ``url``."""
    return written.exists() and json.loads(written.read_text(encoding="utf-8")) == _shape(args, url)


def run(engine: str, url: str, args: argparse.Namespace, folder: Path) -> None:
    written = folder / engine / "populated.json"
    if _kept(written, args, url):
        upgrade_engine = create_store_engine(url)
        upgrade(upgrade_engine)  # a kept history gets the indexes added since it was written
        upgrade_engine.dispose()
        print(f"[{engine}] reusing the kept history of {args.leads:,} leads in {folder / engine}", flush=True)
    else:
        written.parent.mkdir(parents=True, exist_ok=True)
        written.write_text(json.dumps({"writing": True}), encoding="utf-8")  # its database is ours
        begin = time.perf_counter()
        populate(url, args.leads, args.changes, args.events)
        print(f"[{engine}] wrote {args.leads:,} leads, up to {args.changes} stage changes and {args.events} "
              f"events each, in {time.perf_counter() - begin:.0f} s", flush=True)  # fmt: skip
        written.write_text(json.dumps(_shape(args, url)), encoding="utf-8")
    root = folder / engine / "ws"
    if not root.exists():
        workspace(folder / engine, url)
    done = subprocess.run(
        [sys.executable, __file__, "--measure-only", str(root)],
        capture_output=True, text=True, env={**os.environ, "NURTURE_NOW": NOW.isoformat()},
    )  # fmt: skip
    if done.returncode:
        sys.exit(f"[{engine}] report failed:\n{done.stderr}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    scale = TARGET_LEADS / args.leads
    print(
        f"[{engine}] report of {figures['leads']:,} leads: {figures['seconds']} s "
        f"({figures['cpu_s']} s of this process's CPU time; the database server's is apart), "
        f"peak {figures['peak_mb']} MB; x{scale:g} linearly: {figures['seconds'] * scale:.0f} s "
        f"(target at {TARGET_LEADS:,} leads: {TARGET_S:.0f} s and {TARGET_MB} MB)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--leads", type=int, default=TARGET_LEADS)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK:,} leads")
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--events", type=int, default=30)
    parser.add_argument("--postgres-url", help="also run on PostgreSQL (a throwaway database is made there)")
    parser.add_argument(
        "--keep", metavar="DIR", help="keep (or reuse) the SQLite history and the workspaces in DIR"
    )
    parser.add_argument(
        "--postgres-database", metavar="NAME", help="keep (or reuse) the PostgreSQL history in NAME"
    )
    parser.add_argument("--no-sqlite", action="store_true", help="only PostgreSQL")
    parser.add_argument("--measure-only", metavar="ROOT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_only:
        print(json.dumps(measure(Path(args.measure_only))))
        return
    if args.quick:
        args.leads = QUICK
    with contextlib.ExitStack() as cleanup:
        if args.keep:
            folder = Path(args.keep).resolve()
            folder.mkdir(parents=True, exist_ok=True)
        else:
            folder = Path(cleanup.enter_context(tempfile.TemporaryDirectory()))
        if not args.no_sqlite:
            sqlite_file = folder / "sqlite" / "bench.db"
            url = f"sqlite:///{sqlite_file}"
            if not _kept(folder / "sqlite" / "populated.json", args, url):
                for leftover in ("", "-wal", "-shm"):  # half-written, or of another size
                    sqlite_file.with_name(sqlite_file.name + leftover).unlink(missing_ok=True)
            sqlite_file.parent.mkdir(parents=True, exist_ok=True)
            run("sqlite", url, args, folder)
        if args.postgres_url:
            _postgres(args, folder)


def _postgres(args: argparse.Namespace, folder: Path) -> None:
    database = args.postgres_database or f"nurture_bench_report_{os.getpid()}"
    url = args.postgres_url.rsplit("/", 1)[0] + f"/{database}"
    admin = create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": database}
        ).first()
        written = folder / "postgresql" / "populated.json"
        if exists and args.postgres_database and not written.exists():
            sys.exit(
                f"database {database} exists but holds no history kept in {folder}: drop it or name another"
            )
        if exists and not _kept(written, args, url):
            conn.execute(text(f'DROP DATABASE "{database}" WITH (FORCE)'))  # half-written, or of another size
            exists = None
        if not exists:
            written.unlink(missing_ok=True)
            conn.execute(text(f'CREATE DATABASE "{database}"'))
    try:
        run("postgresql", url, args, folder)
    finally:
        if not args.postgres_database:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
