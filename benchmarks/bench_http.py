"""Tracking server throughput and latency: open-pixel and click requests over loopback.

The server runs in its own process (uvicorn, one worker, the demo program so every open and click
is scored as in production, SQLite); the load comes from a second process, an asyncio client
on raw sockets with keep-alive connections, bounded by a request count and a time limit. Printed
side by side per scenario: requests/s and p50/p90/p99 latency. Target: >= 2,000 requests/s with
p99 < 25 ms.

    .venv/bin/python benchmarks/bench_http.py [--requests 20000] [--connections 16] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from loopback import demo_workspace, drive, run_load, running_server, serve, uvicorn_flavour

TARGET_PER_S = 2_000
TARGET_P99_MS = 25.0
LEADS = 10_000  # one mailing: many readers, a few opens and clicks each
BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)


# -- preparing a workspace with sent messages -------------------------------------------------------


def prepare(root: Path) -> list[int]:
    """A workspace with the demo program, leads and one sent email each; returns the message ids."""
    from sqlalchemy import insert

    from nurture.demo_data import generate_leads
    from nurture.store.schema import leads, messages

    engine = demo_workspace(root)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        rows = [
            {
                "email": lead["email"], "email_domain": lead["email"].rpartition("@")[2],
                "first_name": lead["first_name"], "country": lead["country"], "attributes": {},
                "created_at": now - timedelta(days=5), "updated_at": now - timedelta(days=5),
            }
            for lead in generate_leads(LEADS)
        ]  # fmt: skip
        conn.execute(insert(leads), rows)
        conn.execute(
            insert(messages),
            [
                {
                    "lead_id": i, "campaign_key": "trial-nurture", "step_id": "welcome", "kind": "marketing",
                    "to_address": rows[i - 1]["email"], "message_id": f"<bench-{i}@nurture.example>",
                    "status": "sent", "attempts": 1, "created_at": now - timedelta(hours=2),
                    "sent_at": now - timedelta(hours=1),
                }
                for i in range(1, LEADS + 1)
            ],
        )  # fmt: skip
    engine.dispose()
    return list(range(1, LEADS + 1))


def request_paths(root: Path, message_ids: list[int], kind: str, count: int) -> list[str]:
    from nurture.delivery.tracking import LinkTracker
    from nurture.settings import load_settings, secret_key
    from nurture.tokens import TokenSigner

    tracker = LinkTracker(TokenSigner(secret_key(load_settings(root), root)), "")
    rng = random.Random(5)
    paths = []
    for _ in range(count):
        message_id = rng.choice(message_ids)
        if kind == "open" or (kind == "mixed" and rng.random() < 0.7):
            paths.append(tracker.open_pixel_url(message_id))
        else:
            paths.append(tracker.click_url(message_id, f"https://taktwerk.example/fallstudie?m={message_id}"))
    return paths


# -- the load process ------------------------------------------------------------------------------


def _request(path: str) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {BROWSER}\r\nAccept: */*\r\n\r\n").encode(
        "ascii"
    )


def _answered(head: bytes, body: bytes) -> bool:
    return head.startswith((b"HTTP/1.1 200", b"HTTP/1.1 302"))


async def _load(port: int, paths: list[str], connections: int, seconds: float) -> dict[str, float]:
    return await drive(port, paths, connections, seconds, _request, _answered)


def load(port: int, paths_file: Path, connections: int, seconds: float) -> None:
    paths = json.loads(paths_file.read_text())
    print(json.dumps(asyncio.run(_load(port, paths, connections, seconds))))


# -- orchestration ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--serve", nargs=2, metavar=("ROOT", "PORT"), help=argparse.SUPPRESS)
    parser.add_argument("--load", nargs=2, metavar=("PORT", "PATHS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), int(args.serve[1]))
        return
    if args.load:
        load(int(args.load[0]), Path(args.load[1]), args.connections, args.seconds)
        return

    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        message_ids = prepare(root)
        with running_server(__file__, root) as port:
            for kind in ("open", "click", "mixed"):
                paths_file = root / f"{kind}.json"
                paths_file.write_text(json.dumps(request_paths(root, message_ids, kind, args.requests)))
                # A short warm-up so imports and the first connections are not measured.
                warm = root / "warm.json"
                warm.write_text(json.dumps(request_paths(root, message_ids, kind, 500)))
                command = [sys.executable, __file__, "--connections", str(args.connections)]
                run_load(command, port, warm)
                results[kind] = run_load([*command, "--seconds", str(args.seconds)], port, paths_file)

    print(
        f"server: uvicorn ({uvicorn_flavour()}), 1 worker, SQLite, scoring on; load: "
        f"{args.connections} keep-alive connections, {os.cpu_count()} cores; "
        f"target >= {TARGET_PER_S:,} req/s, p99 < {TARGET_P99_MS:g} ms"
    )
    print(
        f"{'scenario':<9} {'requests':>9} {'errors':>7} {'req/s':>8} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7}"
    )
    for kind, r in results.items():
        print(
            f"{kind:<9} {r['requests']:>9.0f} {r['errors']:>7.0f} {r['per_s']:>8,.0f} "
            f"{r['p50']:>7.2f} {r['p90']:>7.2f} {r['p99']:>7.2f}"
        )


if __name__ == "__main__":
    main()
