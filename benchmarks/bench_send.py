"""End-to-end send throughput: claim, render, track, build MIME, send over SMTP, record.

Sends N due emails of the demo program (its real layout and German copy) through the outbox to
Postfix's `smtp-sink` on loopback, and, in the same run, the transport's own ceiling: the same
SMTP pool sending the same number of pre-built messages. Targets: >= 1,000 emails/s end to end,
and >= 0.7 of the ceiling. Two more figures say where the time goes: the outbox's own path with
pre-built messages (claim, mark, send, record: everything but composing), and composing alone
(render, track, build) on one thread with nothing sent.

    apt-get install postfix   # provides /usr/sbin/smtp-sink
    .venv/bin/python benchmarks/bench_send.py [--emails 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from nurture.cli.init import create_workspace
from nurture.definitions import load_program
from nurture.delivery.transports import OutgoingMessage, parse_transport
from nurture.sending.compose import Composed
from nurture.sending.factory import build_outbox
from nurture.store.engine import create_store_engine
from nurture.workspace import Workspace

NOW = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_sink(port: int) -> subprocess.Popen[bytes]:
    if Path(SINK).exists():
        command = [SINK, "-u", "nobody", f"127.0.0.1:{port}", "2048"]
    else:
        print("smtp-sink not found (apt-get install postfix): using benchmarks/smtp_sink.py, a slower sink")
        command = [sys.executable, str(Path(__file__).with_name("smtp_sink.py")), f"127.0.0.1:{port}"]
    sink = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return sink
        except OSError:
            time.sleep(0.05)
    raise SystemExit("smtp-sink did not start")


def fill(db_url: str, count: int) -> None:
    """``count`` leads in trial-nurture with the welcome email queued and due now."""
    db = create_store_engine(db_url)
    at = NOW.strftime("%Y-%m-%d %H:%M:%S.%f")
    series = (
        f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) SELECT i FROM n"
    )
    with db.begin() as conn:
        conn.execute(text(
            "INSERT INTO leads (email, email_domain, first_name, last_name, company, country, timezone, "
            "lifecycle_stage, attributes, created_at, updated_at) SELECT 'lead' || i || '@firma' || (i % 997) "
            "|| '.de', 'firma' || (i % 997) || '.de', 'Jürgen', 'Müller', 'Rheinwerk GmbH', 'DE', "
            f"'Europe/Berlin', 'lead', '{{}}', '{at}', '{at}' FROM ({series})"
        ))  # fmt: skip
        conn.execute(text(
            "INSERT INTO enrollments (lead_id, campaign_key, campaign_version, status, step_id, step_started_at, "
            f"due_at, entered_at) SELECT id, 'trial-nurture', 'bench', 'active', 'wait-2', '{at}', "
            f"'2026-03-05 10:00:00.000000', '{at}' FROM leads"
        ))  # fmt: skip
        conn.execute(text(
            "INSERT INTO messages (lead_id, enrollment_id, campaign_key, step_id, kind, to_address, message_id, "
            "status, attempts, next_attempt_at, created_at) SELECT lead_id, id, 'trial-nurture', 'welcome', "
            f"'marketing', (SELECT email FROM leads WHERE leads.id = lead_id), '<m' || id || '@bench>', "
            f"'queued', 0, '{at}', '{at}' FROM enrollments"
        ))  # fmt: skip
    db.dispose()


async def ceiling(workspace: Workspace, messages: list[OutgoingMessage], concurrency: int) -> float:
    """Pre-built messages through the same transport, as fast as the pool goes."""
    transport = parse_transport(workspace.settings.transport, workspace.root, workspace.settings)
    gate = asyncio.Semaphore(concurrency)

    async def send(message: OutgoingMessage) -> None:
        async with gate:
            result = await transport.send(message)
            assert result.accepted, result

    started = time.perf_counter()
    await asyncio.gather(*(send(m) for m in messages))
    elapsed = time.perf_counter() - started
    await transport.close()
    return len(messages) / elapsed


class PrebuiltComposer:
    """Stands in for the composer: every marketing email is the same pre-built message."""

    def __init__(self, message: OutgoingMessage) -> None:
        self.message = message

    def marketing(self, message_id: int, *_: object, **__: object) -> Composed:
        return Composed(
            OutgoingMessage(self.message.sender, self.message.recipients, self.message.data, message_id), ""
        )


async def through_the_outbox(
    workspace: Workspace, db_url: str, *, prebuilt: OutgoingMessage | None = None, batches: int = 10_000
) -> tuple[float, int]:
    """Due emails through the outbox: claimed, built (or taken pre-built), sent and recorded."""
    db = create_store_engine(db_url)
    outbox = build_outbox(db, load_program(workspace), workspace)
    if prebuilt is not None:
        outbox.composer = PrebuiltComposer(prebuilt)  # type: ignore[assignment]
    started = time.perf_counter()
    report = await outbox.deliver_due(NOW, max_batches=batches)
    elapsed = time.perf_counter() - started
    await outbox.transport.close()
    db.dispose()
    sent = report.outcomes["sent"]
    assert sent and not report.problems, report
    return sent / elapsed, sent


def requeue(db_url: str) -> None:
    with create_store_engine(db_url).begin() as conn:
        conn.execute(text(
            "UPDATE messages SET status = 'queued', claimed_until = NULL, attempts = 0, sent_at = NULL, "
            "subject = NULL"
        ))  # fmt: skip


def composing_alone(workspace: Workspace, db_url: str, count: int) -> float:
    """Emails composed per second on one core, nothing else running: render, track, build."""
    db = create_store_engine(db_url)
    outbox = build_outbox(db, load_program(workspace), workspace)
    claimed = outbox.claim(NOW)
    leads = outbox._recipients(claimed)[0]
    composer = outbox.composer
    rows = [claimed[i % len(claimed)] for i in range(count)]
    started = time.perf_counter()
    for row in rows:
        assert row.campaign_key and row.step_id
        composer.marketing(row.id, row.header_id, leads[row.lead_id], row.campaign_key, row.step_id, NOW)
    elapsed = time.perf_counter() - started
    db.dispose()
    requeue(db_url)
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--emails", type=int, default=100_000)
    parser.add_argument(
        "--ceiling-sample", type=int, default=20_000, help="pre-built messages for the ceiling"
    )
    args = parser.parse_args()
    port = free_port()
    sink = start_sink(port)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workspace = create_workspace(Path(tmp) / "ws")
            settings_file = workspace.root / "nurture.toml"
            lines = [
                line for line in settings_file.read_text().splitlines() if not line.startswith("transport")
            ]
            lines += [
                f'transport = "smtp://127.0.0.1:{port}?tls=none&timeout=30"',
                "smtp_pool_size = 4",
                "mail_host_mx_lookup = false",  # made-up domains: grouped by domain, no DNS
            ]
            settings_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
            workspace = Workspace(workspace.root)
            db_url = workspace.database_url
            fill(db_url, args.emails)
            # Messages for the ceiling: built once, outside any timing, from the same program.
            db = create_store_engine(db_url)
            sample_outbox = build_outbox(db, load_program(workspace), workspace)
            claimed = sample_outbox.claim(NOW)[:1]
            _, ready = asyncio.run(
                sample_outbox._prepare_between_sends(claimed, sample_outbox._recipients(claimed), NOW)
            )
            one = ready[0][1].message
            db.dispose()
            requeue(db_url)
            prebuilt = [
                OutgoingMessage(one.sender, one.recipients, one.data, i) for i in range(args.ceiling_sample)
            ]
            concurrency = sample_outbox.concurrency
            composing = composing_alone(workspace, db_url, min(args.ceiling_sample, 5_000))
            top = asyncio.run(ceiling(workspace, prebuilt, concurrency))
            batches = max(args.ceiling_sample // sample_outbox.batch_size, 1)
            pipeline, piped = asyncio.run(
                through_the_outbox(workspace, db_url, prebuilt=one, batches=batches)
            )
            requeue(db_url)
            rate, sent = asyncio.run(through_the_outbox(workspace, db_url))
    finally:
        sink.terminate()
        sink.wait(timeout=10)
    rows = [
        (f"transport ceiling: {args.ceiling_sample:,} pre-built messages, {concurrency} at once", top),
        (f"the outbox with pre-built messages: {piped:,} claimed, sent, recorded", pipeline),
        (f"end to end: {sent:,} due emails claimed, rendered, built, sent, recorded", rate),
        ("composing alone (render, track, build), one thread, nothing sent", composing),
    ]
    print(f"{'measure':<72} {'emails/s':>9} {'µs/email':>9}")
    for label, per_second in rows:
        print(f"{label:<72} {per_second:>9,.0f} {1e6 / per_second:>9,.0f}")
    print(
        f"end to end vs. target 1,000/s: {rate / 1000:.2f}x; vs. the ceiling: {rate / top:.2f} (target >= 0.7)"
    )
    print(
        f"the outbox's own work (claim, mark, record) leaves {pipeline / top:.2f} of the ceiling with nothing "
        "to compose; one core spends "
        f"{1e6 / top:,.0f} µs sending an email and {1e6 / composing:,.0f} µs composing it"
    )


if __name__ == "__main__":
    main()
