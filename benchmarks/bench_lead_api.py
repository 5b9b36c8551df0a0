"""Lead API throughput: ``POST /api/leads`` with batches of 100 over loopback.

The server runs in its own process (uvicorn, one worker, the demo program, so every new or changed
lead is scored for fit and checked against the MQL rule, SQLite); the load comes from a second
process, an asyncio client on raw sockets with keep-alive connections. Scenarios, each on its own
leads: ``create`` (every lead new), ``update`` (the same leads again with a new job title and
company size: fit rescored, some become MQLs and are routed), ``unchanged`` (the same leads again:
nothing to write). Printed side by side: leads/s, requests/s and p50/p90/p99 latency per request.
Target: >= 5,000 leads/s on SQLite with scoring on.

    .venv/bin/python benchmarks/bench_lead_api.py [--leads 50000] [--batch 100] [--connections 4]
    .venv/bin/python benchmarks/bench_lead_api.py --quick      # 5,000 leads
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

from loopback import demo_workspace, drive, run_load, running_server, serve, uvicorn_flavour

TARGET_LEADS_PER_S = 5_000
KEY = "benchmark-ingest-key-0123456789"
TITLES = ("Head of Operations", "Director IT", "Leiterin Einkauf", "Engineer", "Assistant")


# -- the workspace ---------------------------------------------------------------------------------


def prepare(root: Path) -> None:
    """A workspace with the demo program and an empty, migrated SQLite database."""
    demo_workspace(
        root,
        f'ingest_api_key = "{KEY}"\nbase_url = "https://nurture.example"\n'
        'from_address = "Taktwerk <hallo@taktwerk.example>"\n',
    ).dispose()


def bodies(count: int, batch: int, scenario: str) -> list[str]:
    """The request bodies of a scenario: ``count`` leads in batches of ``batch``."""
    from nurture.demo_data import generate_leads

    people = list(generate_leads(count, seed=11))
    items = []
    for index, person in enumerate(people):
        item = {
            "email": person["email"], "first_name": person["first_name"], "last_name": person["last_name"],
            "company": person["company"], "country": person["country"], "timezone": person["timezone"],
            "attributes": {"source": "benchmark"},
        }  # fmt: skip
        if scenario == "update":
            item["job_title"] = TITLES[index % len(TITLES)]
            item["company_size"] = 50 + index % 900
        items.append(item)
    return [json.dumps(items[start : start + batch]) for start in range(0, len(items), batch)]


# -- the load process ------------------------------------------------------------------------------


def _request(body: str) -> bytes:
    data = body.encode("utf-8")
    return (
        f"POST /api/leads HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode("ascii")
        + data
    )


async def _load(port: int, requests: list[str], connections: int) -> dict[str, float]:
    counts: list[int] = []

    def answered(head: bytes, answer: bytes) -> bool:
        if not head.startswith(b"HTTP/1.1 200"):
            return False
        result = json.loads(answer)
        counts.append(result["received"] - result["rejected"])
        return True

    run = await drive(port, requests, connections, None, _request, answered)
    return {**run, "leads": sum(counts), "leads_per_s": sum(counts) / run["seconds"]}


def load(port: int, bodies_file: Path, connections: int) -> None:
    requests = json.loads(bodies_file.read_text())
    print(json.dumps(asyncio.run(_load(port, requests, connections))))


# -- orchestration ---------------------------------------------------------------------------------


def busy_cores() -> float:
    """How many cores the rest of the machine kept busy (1-minute load average), for the reader."""
    return os.getloadavg()[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="5,000 leads: a rerun in seconds")
    parser.add_argument("--serve", nargs=2, metavar=("ROOT", "PORT"), help=argparse.SUPPRESS)
    parser.add_argument("--load", nargs=2, metavar=("PORT", "BODIES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), int(args.serve[1]))
        return
    if args.load:
        load(int(args.load[0]), Path(args.load[1]), args.connections)
        return
    count = 5_000 if args.quick else args.leads

    load_before = busy_cores()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        prepare(root)
        with running_server(__file__, root) as port:
            command = [sys.executable, __file__, "--connections", str(args.connections)]
            warm = root / "warm.json"
            warm.write_text(json.dumps([json.dumps([{"email": f"warm{n}@warm-up.de"}]) for n in range(50)]))
            run_load(command, port, warm)
            for scenario in ("create", "update", "unchanged"):
                bodies_file = root / f"{scenario}.json"
                kind = "update" if scenario == "unchanged" else scenario
                bodies_file.write_text(json.dumps(bodies(count, args.batch, kind)))
                results[scenario] = run_load(command, port, bodies_file)

    print(
        f"server: uvicorn ({uvicorn_flavour()}), 1 worker, SQLite, demo program (fit scoring, MQL "
        f"rule, routing) on; load: {args.connections} keep-alive connections, batches of {args.batch}, "
        f"{count:,} leads per scenario; {os.cpu_count()} cores, load average {load_before:.1f} before "
        f"and {busy_cores():.1f} after; target >= {TARGET_LEADS_PER_S:,} leads/s"
    )
    print(
        f"{'scenario':<10} {'requests':>8} {'errors':>6} {'leads':>7} {'leads/s':>8} {'req/s':>6} "
        f"{'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'vs target':>9}"
    )
    for scenario, r in results.items():
        print(
            f"{scenario:<10} {r['requests']:>8.0f} {r['errors']:>6.0f} {r['leads']:>7.0f} "
            f"{r['leads_per_s']:>8,.0f} {r['per_s']:>6,.0f} {r['p50']:>7.1f} {r['p90']:>7.1f} "
            f"{r['p99']:>7.1f} {r['leads_per_s'] / TARGET_LEADS_PER_S:>8.2f}x"
        )


if __name__ == "__main__":
    main()
