"""The whole report (every section) over a generated history: seconds and peak memory.

Target: 1,000,000 leads with 10 stage changes and 30 engagement events each, under 30 s and 1 GB.
The history is written first (not timed); the report is then computed in a fresh process, so its
peak resident memory is the report's own. SQLite by default; ``--database-url postgresql://...``
(an empty, throwaway database) for PostgreSQL.

    .venv/bin/python benchmarks/bench_report.py [--leads 1000000] [--changes 10] [--events 30]
                                                [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from nurture.store.engine import create_store_engine
from nurture.store.migrate import upgrade
from nurture.store.schema import enrollments, events, handoffs, leads, stage_changes

START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
NOW = START + timedelta(days=420)
TARGET_S, TARGET_MB = 30.0, 1024
# A lead's walk: the first 10 moves, cut to --changes (longer walks repeat the recycle loop).
WALK = ("lead", "mql", "recycled", "mql", "sal", "sql", "opportunity", "customer")
TYPES = ("email_open", "email_open", "email_click", "page_view", "email_open")
COUNTRIES = ("DE", "AT", "CH", "US", "FR")


def populate(url: str, n: int, changes: int, per_lead_events: int, seed: int = 1) -> None:
    engine = create_store_engine(url)
    upgrade(engine)
    chance = random.Random(seed)
    batch = 5_000
    with engine.begin() as conn:
        for first in range(1, n + 1, batch):
            lead_rows, change_rows, event_rows, handoff_rows, enrollment_rows = [], [], [], [], []
            for lead_id in range(first, min(first + batch, n + 1)):
                created = START + timedelta(days=chance.uniform(0, 360))
                at, stage = created, None
                path = [WALK[0]] + [WALK[1 + (i % (len(WALK) - 1))] for i in range(changes - 1)]
                depth = chance.randint(1, changes)
                for to_stage in path[:depth]:
                    change_rows.append(
                        {"lead_id": lead_id, "from_stage": stage, "to_stage": to_stage, "at": at,
                         "reason": "bench", "actor": "bench",
                         "amount": 10_000.0 if to_stage == "customer" else None,
                         "currency": "EUR" if to_stage == "customer" else None}
                    )  # fmt: skip
                    if to_stage == "mql":
                        handoff_rows.append(
                            {"lead_id": lead_id, "team_key": "dach", "rep_id": "anna", "status": "accepted",
                             "assigned_at": at, "accept_due_at": at + timedelta(hours=4),
                             "responded_at": at + timedelta(hours=chance.uniform(0.1, 30))}
                        )  # fmt: skip
                    stage, at = to_stage, at + timedelta(days=chance.expovariate(1 / 6))
                lead_rows.append(
                    {"id": lead_id, "email": f"lead{lead_id}@example.com", "email_domain": "example.com",
                     "country": chance.choice(COUNTRIES), "lifecycle_stage": stage, "attributes": {},
                     "created_at": created, "updated_at": created}
                )  # fmt: skip
                enrollment_rows.append(
                    {"lead_id": lead_id, "campaign_key": "nurture", "campaign_version": "v1", "status": "completed",
                     "entered_at": created}
                )  # fmt: skip
                for _ in range(per_lead_events):
                    event_rows.append(
                        {"lead_id": lead_id, "type": chance.choice(TYPES), "received_at": created,
                         "occurred_at": created + timedelta(days=chance.uniform(0, 60)), "campaign_key": "nurture",
                         "step_id": f"step-{chance.randint(1, 6)}",
                         "machine_reason": "privacy_proxy" if chance.random() < 0.2 else None, "properties": {}}
                    )  # fmt: skip
            conn.execute(insert(leads), lead_rows)
            conn.execute(insert(stage_changes), change_rows)
            conn.execute(insert(handoffs), handoff_rows)
            conn.execute(insert(enrollments), enrollment_rows)
            conn.execute(insert(events), event_rows)
    engine.dispose()


def measure(url: str) -> dict[str, float]:
    """Compute the whole report once (JSON included), in this process."""
    from nurture.reports.queries import read_history, step_counts
    from nurture.reports.report import ReportOptions, build_report, program_facts

    engine = create_store_engine(url)
    begin = time.perf_counter()
    with engine.connect() as conn:
        history = read_history(conn, NOW)
        read = time.perf_counter() - begin
        steps = step_counts(conn, None, None)
    report = build_report(history, steps, program_facts(None), ReportOptions(now=NOW, by="country"))
    json.dumps(report.as_json())
    total = time.perf_counter() - begin
    engine.dispose()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"read_s": round(read, 2), "total_s": round(total, 2), "peak_mb": round(peak_mb)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--events", type=int, default=30)
    parser.add_argument("--database-url")
    parser.add_argument("--measure-only", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_only:
        print(json.dumps(measure(args.measure_only)))
        return
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'bench.db'}"
        begin = time.perf_counter()
        populate(url, args.leads, args.changes, args.events)
        print(f"wrote {args.leads:,} leads, up to {args.changes} stage changes and {args.events} events each "
              f"in {time.perf_counter() - begin:.0f} s")  # fmt: skip
        out = subprocess.run(
            [sys.executable, __file__, "--measure-only", url], capture_output=True, text=True, check=True
        ).stdout
        figures = json.loads(out)
        print(
            f"report: {figures['total_s']} s ({figures['read_s']} s reading), peak {figures['peak_mb']} MB "
            f"(target at 1,000,000 leads: {TARGET_S:.0f} s and {TARGET_MB} MB)"
        )


if __name__ == "__main__":
    main()
