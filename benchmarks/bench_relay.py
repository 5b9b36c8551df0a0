"""Sending at the pace of real relays: end to end against the transport's ceiling, with latency.

A relay answers each command a network round trip after it was sent. This runs the delaying relay
(benchmarks/delaying_relay.py) at 20 ms (a relay in the same region) and 80 ms (one across an
ocean), and at 0 ms (plain loopback), and at each measures, in the same run:

* the ceiling: the same SMTP pool sending pre-built messages, as many at once as it has
  connections;
* end to end: due emails of the demo program through the outbox (claimed, rendered, built, sent,
  recorded).

Targets: end to end >= 0.8 of the ceiling at 20 ms and at 80 ms; >= 1,000 emails/s end to end at
20 ms and on plain loopback. With pipelining (RFC 2920) an email takes two round trips (envelope,
then the message), so one connection carries about 1 / (2 x RTT) emails/s: 25/s at 20 ms.

The default size is small (3,000 emails per measure) because figures taken on a shared machine
are noisy anyway; ``--emails 100000`` is the full size.

    .venv/bin/python benchmarks/bench_relay.py [--emails 100000] [--latencies 0,20,80]
        [--connections N] [--no-pipelining]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench_send import NOW, ceiling, fill, free_port, requeue, through_the_outbox

from nurture.cli.init import create_workspace
from nurture.definitions import load_program
from nurture.delivery.transports import OutgoingMessage, SmtpTransport, parse_transport
from nurture.sending.factory import build_outbox
from nurture.store.engine import create_store_engine
from nurture.workspace import Workspace

RELAY = Path(__file__).with_name("delaying_relay.py")
# The leads' domains are made up: grouped by domain, with no DNS (the per-host throttle still runs).
MX_LOOKUP_OFF = "mail_host_mx_lookup = false"


@dataclass
class Figures:
    latency_ms: float
    connections: int
    ceiling: float
    end_to_end: float
    pipelined: int
    duplicates: int


def start_relay(port: int, delay_ms: float, pipelining: bool, stats: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        str(RELAY),
        f"127.0.0.1:{port}",
        "--delay",
        str(delay_ms),
        "--stats",
        str(stats),
    ]
    if not pipelining:
        command.append("--no-pipelining")
    relay = subprocess.Popen(command)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return relay
        except OSError:
            time.sleep(0.05)
    relay.kill()
    raise SystemExit("the delaying relay did not start")


def stop_relay(relay: subprocess.Popen[bytes], stats: Path) -> dict[str, int]:
    relay.terminate()
    relay.wait(timeout=10)
    counts: dict[str, int] = json.loads(stats.read_text(encoding="utf-8"))
    return counts


def point_at(root: Path, port: int, connections: int | None) -> Workspace:
    """The workspace with its transport set to the relay on ``port``."""
    settings_file = root / "nurture.toml"
    keep = ("transport", "smtp_pool_size")
    lines = [line for line in settings_file.read_text().splitlines() if not line.startswith(keep)]
    lines.append(f'transport = "smtp://127.0.0.1:{port}?tls=none&timeout=30"')
    if MX_LOOKUP_OFF not in lines:
        lines.append(MX_LOOKUP_OFF)
    if connections is not None:
        lines.append(f"smtp_pool_size = {connections}")
    settings_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Workspace(root)


def one_message(workspace: Workspace) -> OutgoingMessage:
    """One email of the demo program, built outside any timing (the ceiling sends copies of it)."""
    db = create_store_engine(workspace.database_url)
    outbox = build_outbox(db, load_program(workspace), workspace)
    claimed = outbox.claim(NOW)[:1]
    _, ready = asyncio.run(outbox._prepare_between_sends(claimed, outbox._recipients(claimed), NOW))
    asyncio.run(outbox.transport.close())
    db.dispose()
    requeue(workspace.database_url)
    return ready[0][1].message


def measure(root: Path, delay_ms: float, emails: int, connections: int | None, pipelining: bool) -> Figures:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        stats = Path(tmp) / "relay.json"
        relay = start_relay(port, delay_ms, pipelining, stats)
        try:
            workspace = point_at(root, port, connections)
            transport = parse_transport(workspace.settings.transport, workspace.root, workspace.settings)
            assert isinstance(transport, SmtpTransport)
            pool = transport.settings.pool_size
            one = one_message(workspace)
            # Distinct Message-IDs, so the relay's duplicate count means something for the ceiling too.
            prebuilt = [
                OutgoingMessage(
                    one.sender,
                    one.recipients,
                    one.data.replace(b"Message-ID: <", b"Message-ID: <c%d." % i, 1),
                    i,
                )
                for i in range(emails)
            ]
            top = asyncio.run(ceiling(workspace, prebuilt, pool))
            requeue(workspace.database_url)
            rate, _ = asyncio.run(through_the_outbox(workspace, workspace.database_url))
            requeue(workspace.database_url)
        finally:
            counts = stop_relay(relay, stats)
    return Figures(delay_ms, pool, top, rate, counts["pipelined"], counts["duplicates"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description="end to end vs. the transport's ceiling, relays with latency"
    )
    parser.add_argument("--emails", type=int, default=3_000, help="emails per measure (full size: 100000)")
    parser.add_argument("--latencies", default="0,20,80", help="milliseconds before each relay reply")
    parser.add_argument(
        "--connections", type=int, help="SMTP connections (default: the smtp_pool_size default)"
    )
    parser.add_argument("--no-pipelining", action="store_true", help="the relay does not offer PIPELINING")
    args = parser.parse_args()
    latencies = [float(x) for x in args.latencies.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        workspace = create_workspace(Path(tmp) / "ws")
        fill(workspace.database_url, args.emails)
        results = [
            measure(workspace.root, delay, args.emails, args.connections, not args.no_pipelining)
            for delay in latencies
        ]
    print(f"{args.emails:,} emails per measure; shared machine: figures are noisy and low")
    print(
        f"{'relay latency':>13} {'connections':>11} {'ceiling/s':>10} {'end to end/s':>12} {'ratio':>6} "
        f"{'pipelined':>9} {'duplicates':>10}  targets"
    )
    for f in results:
        ratio = f.end_to_end / f.ceiling
        targets = []
        if f.latency_ms > 0:
            targets.append(f"ratio >= 0.8: {'met' if ratio >= 0.8 else 'MISSED'}")
        if f.latency_ms <= 20:
            targets.append(f">= 1,000/s: {'met' if f.end_to_end >= 1000 else 'MISSED'}")
        print(
            f"{f.latency_ms:>10,.0f} ms {f.connections:>11} {f.ceiling:>10,.0f} {f.end_to_end:>12,.0f} "
            f"{ratio:>6.2f} {f.pipelined:>9,} {f.duplicates:>10}  {'; '.join(targets)}"
        )
    print("one connection carries about 1 / (round trips x RTT) emails/s; with pipelining, 2 round trips")


if __name__ == "__main__":
    main()
