"""Event import throughput: 100,000 events from JSON Lines into SQLite, each scored into the ledger.

A workspace with the demo program (its scoring model, SLA and sales team) and 10,000 leads; the
events are a realistic mix (opens, clicks, pricing-page views, whitepaper downloads, webinars, a
custom type, 2% for addresses that are not leads yet, a fifth carrying an id). Leads that pass the
MQL rule are routed and their rep notified inside the same transactions, as in production.
Printed: events/s for the whole import, and how many events were scored. Target: >= 20,000 events/s.

    .venv/bin/python benchmarks/bench_events.py [--events 100000] [--leads 10000]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

TARGET_EVENTS_PER_S = 20_000
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MIX = (
    ("email_open", 40),
    ("email_click", 20),
    ("page_view", 20),
    ("download", 10),
    ("webinar_attended", 4),
    ("newsletter_subscribe", 3),
    ("demo.requested", 3),
)


def write_workspace(root: Path) -> None:
    from nurture.demo_program import demo_program_root

    source = demo_program_root()
    for folder in ("campaigns", "templates"):
        shutil.copytree(source / folder, root / folder)
    (root / "nurture.toml").write_text(
        'database_url = "sqlite:///bench.db"\nsecret_key = "benchmark-secret-key-0123456789"\n'
        'base_url = "https://nurture.example"\ntimezone = "Europe/Berlin"\n',
        encoding="utf-8",
    )


def write_events(path: Path, emails: list[str], count: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    types = [t for t, _ in MIX]
    weights = [w for _, w in MIX]
    with path.open("w", encoding="utf-8") as out:
        for index in range(count):
            kind = rng.choices(types, weights)[0]
            email = rng.choice(emails) if rng.random() >= 0.02 else f"visitor.{index}@unknown.example"
            at = NOW - timedelta(seconds=rng.randrange(30 * 86_400))
            item: dict[str, object] = {"type": kind, "email": email, "occurred_at": at.isoformat()}
            if kind == "page_view":
                item["url"] = rng.choice(
                    ("https://taktwerk.example/pricing", "https://taktwerk.example/blog")
                )
            elif kind == "download":
                item["asset_type"] = rng.choice(("whitepaper", "checklist"))
            elif kind == "email_click":
                item["url"] = "https://taktwerk.example/fallstudie"
            if index % 5 == 0:
                item["id"] = f"evt-{index}"
            out.write(json.dumps(item) + "\n")


def run(events_count: int, leads_count: int, *, scored: bool) -> dict[str, float]:
    """One import into a fresh database; ``scored`` False records without a program (no scoring)."""
    from nurture.definitions import load_program
    from nurture.demo_data import generate_leads, write_leads_csv
    from nurture.engagement.jsonl import import_events_file
    from nurture.leads.importer import LeadImporter
    from nurture.lifecycle import Lifecycle
    from nurture.store.engine import create_store_engine
    from nurture.store.migrate import upgrade
    from nurture.store.schema import events, handoffs, score_ledger
    from nurture.workspace import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_workspace(root)
        workspace = Workspace(root)
        engine = create_store_engine(workspace.database_url)
        upgrade(engine)
        write_leads_csv(root / "leads.csv", leads_count)
        LeadImporter(engine, NOW - timedelta(days=31)).run(root / "leads.csv")
        emails = [lead["email"] for lead in generate_leads(leads_count)]
        write_events(root / "events.jsonl", emails, events_count)
        lifecycle = Lifecycle.of(load_program(workspace), workspace.settings) if scored else None

        started = time.perf_counter()
        report = import_events_file(engine, lifecycle, root / "events.jsonl", NOW)
        elapsed = time.perf_counter() - started

        with engine.connect() as conn:
            count = conn.scalar
            result = {
                "stored": count(select(func.count()).select_from(events)) or 0,
                "rejected": report.rejected,
                "scored": count(select(func.count(func.distinct(score_ledger.c.event_id)))) or 0,
                "routed": count(select(func.count()).select_from(handoffs)) or 0,
                "seconds": elapsed,
                "per_s": events_count / elapsed,
            }
        engine.dispose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--leads", type=int, default=10_000)
    args = parser.parse_args()

    runs = {"scored": run(args.events, args.leads, scored=True)}
    runs["recorded only"] = run(args.events, args.leads, scored=False)
    print(f"target {TARGET_EVENTS_PER_S:,} events/s")
    print(
        f"{'run':<14} {'events':>8} {'stored':>8} {'rejected':>8} {'scored':>8} {'routed':>7} {'seconds':>8} {'events/s':>9}"
    )
    for name, r in runs.items():
        print(
            f"{name:<14} {args.events:>8} {r['stored']:>8} {r['rejected']:>8} {r['scored']:>8} "
            f"{r['routed']:>7} {r['seconds']:>8.2f} {r['per_s']:>9,.0f}"
        )


if __name__ == "__main__":
    main()
