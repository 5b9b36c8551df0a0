"""Scale-out: 1, 2 and 3 ``nurture run`` replicas on one PostgreSQL sending to a relay 20 ms away.

N due emails of the demo program are sent by one replica, then (queued again) by two, then by
three, each time to a fresh delaying relay (benchmarks/delaying_relay.py, 20 ms per reply) that
counts every Message-ID it receives. Printed side by side: emails/s (from the first email sent to
the last), the ratio to one replica (target >= 1.5x for two), and duplicates at the relay (must be
0: every email is claimed by one replica only).

Each replica is a process of its own with its own SMTP connections (the ``smtp_pool_size``
default); on a machine with fewer cores than replicas plus the database and the relay, the
replicas share the cores and the ratio says more about the machine than about nurture.

The default size is small (3,000 emails) for a shared machine; ``--emails 100000`` is the full size.

    .venv/bin/python benchmarks/bench_scaleout.py [--emails 100000] [--replicas 1,2,3]
        [--latency 20] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_relay import start_relay, stop_relay
from bench_send import NOW, free_port
from postgres import admin_url, create_database, drop_database
from sqlalchemy import text
from sqlalchemy.engine import Engine

from nurture.cli.init import create_workspace
from nurture.store.engine import create_store_engine
from nurture.store.migrate import upgrade

# Nothing but sending: the other jobs stay out of the measurement (nothing else is due anyway).
JOBS = """\
jobs:
  send: {every: 1s, misfire_grace_time: 5s}
  advance: {enabled: false}
"""


def fill(db: Engine, count: int) -> None:
    """``count`` leads in trial-nurture with the welcome email queued and due at NOW."""
    at = NOW.isoformat()
    with db.begin() as conn:
        conn.execute(text(
            "INSERT INTO leads (email, email_domain, first_name, last_name, company, country, timezone, "
            "lifecycle_stage, attributes, created_at, updated_at) SELECT 'lead' || i || '@firma' || (i % 997) "
            "|| '.de', 'firma' || (i % 997) || '.de', 'Jürgen', 'Müller', 'Rheinwerk GmbH', 'DE', "
            f"'Europe/Berlin', 'lead', '{{}}', '{at}', '{at}' FROM generate_series(1, {count}) AS s(i)"
        ))  # fmt: skip
        conn.execute(text(
            "INSERT INTO enrollments (lead_id, campaign_key, campaign_version, status, step_id, step_started_at, "
            f"due_at, entered_at) SELECT id, 'trial-nurture', 'bench', 'active', 'wait-2', '{at}', "
            f"'2026-03-05 10:00:00+00', '{at}' FROM leads"
        ))  # fmt: skip
        conn.execute(text(
            "INSERT INTO messages (lead_id, enrollment_id, campaign_key, step_id, kind, to_address, message_id, "
            "status, attempts, next_attempt_at, created_at) SELECT e.lead_id, e.id, 'trial-nurture', 'welcome', "
            "'marketing', l.email, '<m' || e.id || '@bench>', 'queued', 0, "
            f"'{at}', '{at}' FROM enrollments e JOIN leads l ON l.id = e.lead_id"
        ))  # fmt: skip


def requeue(db: Engine) -> None:
    with db.begin() as conn:
        conn.execute(text(
            "UPDATE messages SET status = 'queued', claimed_until = NULL, claim_token = NULL, attempts = 0, "
            "sent_at = NULL, subject = NULL, last_error = NULL"
        ))  # fmt: skip


def sent(db: Engine) -> int:
    with db.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM messages WHERE status = 'sent'")).scalar_one())


def run_replicas(
    root: Path, db: Engine, replicas: int, emails: int, latency: float
) -> tuple[float, int, str]:
    """emails/s from the first sent to the last, duplicates at the relay, and a note."""
    port = free_port()
    stats = root / f"relay-{replicas}.json"
    relay = start_relay(port, latency, True, stats)
    env = {
        **os.environ,
        "NURTURE_WORKSPACE": str(root),
        "NURTURE_NOW": NOW.isoformat(),  # the queued emails are due; nothing else is
        "NURTURE_TRANSPORT": f"smtp://127.0.0.1:{port}?tls=none&timeout=30",
        "NURTURE_METRICS_BIND": "",
    }
    processes = []
    try:
        for i in range(replicas):
            env_i = {**env, "NURTURE_HTTP_PORT": str(free_port())}
            log = (root / f"replica-{replicas}-{i}.log").open("wb")
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "nurture", "run"], env=env_i, stdout=subprocess.DEVNULL, stderr=log
            ))  # fmt: skip
        first = last = None
        deadline = time.monotonic() + 60 + emails / 20
        count = 0
        while time.monotonic() < deadline:
            count = sent(db)
            now = time.monotonic()
            if count and first is None:
                first = now
            if count >= emails:
                last = now
                break
            if any(p.poll() is not None for p in processes):
                break
            time.sleep(0.2)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)
        counts = stop_relay(relay, stats)
    if first is None or last is None:
        return 0.0, counts["duplicates"], f"only {count:,} of {emails:,} sent (see {root}/replica-*.log)"
    # The first poll that saw mail sent came up to one poll after it began: count from there.
    return emails / max(last - first, 1e-3), counts["duplicates"], f"{counts['messages']:,} at the relay"


def main() -> None:
    parser = argparse.ArgumentParser(description="1, 2 and 3 nurture run replicas on one PostgreSQL")
    parser.add_argument("--emails", type=int, default=3_000, help="emails per run (full size: 100000)")
    parser.add_argument("--replicas", default="1,2,3")
    parser.add_argument("--latency", type=float, default=20.0, help="milliseconds before each relay reply")
    parser.add_argument("--database-url", help="PostgreSQL server (default: the local one, if it answers)")
    args = parser.parse_args()
    admin = admin_url(args.database_url)
    if admin is None:
        raise SystemExit("bench_scaleout needs PostgreSQL: none answered (--database-url)")
    name = f"nurture_scaleout_{os.getpid()}"
    url = create_database(admin, name)
    results = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = create_workspace(Path(tmp) / "ws").root
            settings = root / "nurture.toml"
            lines = [
                line for line in settings.read_text().splitlines() if not line.startswith("database_url")
            ]
            lines += [
                f'database_url = "{url}"',
                "mail_host_mx_lookup = false",  # made-up domains: no DNS
                "mail_host_limits = { default = { rate = 100000, connections = 1000 } }",
            ]
            settings.write_text("\n".join(lines) + "\n", encoding="utf-8")
            (root / "scheduler").mkdir(exist_ok=True)
            (root / "scheduler" / "jobs.yaml").write_text(JOBS, encoding="utf-8")
            db = create_store_engine(url)
            upgrade(db)
            fill(db, args.emails)
            for replicas in (int(r) for r in args.replicas.split(",")):
                requeue(db)
                results.append((replicas, *run_replicas(root, db, replicas, args.emails, args.latency)))
            db.dispose()
    finally:
        drop_database(admin, name)
    print(
        f"{args.emails:,} emails per run, relay {args.latency:g} ms away; shared machine: figures are noisy and low"
    )
    print(f"{'replicas':>8} {'emails/s':>9} {'vs. 1':>6} {'duplicates':>10}  note")
    base = next((rate for replicas, rate, _, _ in results if replicas == 1 and rate), None)
    for replicas, rate, duplicates, note in results:
        ratio = f"{rate / base:.2f}x" if base else "-"
        target = "  (target >= 1.5x)" if replicas == 2 else ""
        print(f"{replicas:>8} {rate:>9,.0f} {ratio:>6} {duplicates:>10}  {note}{target}")


if __name__ == "__main__":
    main()
