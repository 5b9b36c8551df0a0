"""Form posts over loopback: requests/s and latency of ``POST /forms/KEY`` from a browser's page.

The server runs in its own process (uvicorn, one worker, the demo program with two forms added,
SQLite, scoring on); the load comes from a second process, an asyncio client on raw sockets with
keep-alive connections, each post urlencoded with an allowed ``Origin`` and, as a site's visitors
behind a proxy, its own address in ``X-Forwarded-For`` (``--one-address``: every post from
127.0.0.1, the case the per-address limits of double opt-in are there for). The per-IP rate limit
is switched off. Scenarios, side by side:

- ``new``: a new address each post (lead created, fit scored, event, consent confirmed);
- ``known``: addresses that are leads already (lead updated, event, consent);
- ``double_opt_in``: a new address each post with double opt-in (pending consent and the
  confirmation email rendered and queued).

Target: >= 500 requests/s with p99 < 50 ms. Beside the figures, the server's CPU time per post
(user + system, from ``/proc``): on a machine shared with other work, requests/s follow the load,
while the CPU a post costs does not, and one core's worth of it bounds the requests/s of one
worker (``cap/s``: 1,000 ms over the CPU per post).

    .venv/bin/python benchmarks/bench_forms.py [--requests 5000] [--connections 8] [--seconds 30] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

from loopback import demo_workspace, drive, run_load, running_server, serve, uvicorn_flavour

TARGET_PER_S = 500
TARGET_P99_MS = 50.0
ORIGIN = "https://www.taktwerk.example"
FORMS = """\
kind: Form
key: demo
fields:
  - {name: email, maps_to: email, type: email, required: true}
  - {name: first_name, maps_to: first_name}
  - {name: company, maps_to: company}
  - {name: job_title, maps_to: job_title}
  - {name: country, maps_to: country}
consent: {text: "Taktwerk darf mich kontaktieren.", version: "v1", topics: [marketing]}
thank_you: https://www.taktwerk.example/danke
---
kind: Form
key: newsletter
fields:
  - {name: email, maps_to: email, type: email, required: true}
  - {name: first_name, maps_to: first_name}
consent: {text: "Ja, ich möchte den Newsletter.", version: "v1", topics: [newsletter]}
double_opt_in: true
thank_you: https://www.taktwerk.example/danke
"""


def server_cpu_seconds() -> float | None:
    """CPU seconds (user + system) used so far by the server process this one started (Linux)."""
    try:
        children = " ".join(Path(t, "children").read_text() for t in Path("/proc/self/task").iterdir())
        for pid in children.split():
            if "--serve" in Path(f"/proc/{pid}/cmdline").read_text():
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
                return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None
    return None


def prepare(root: Path, known: int) -> list[str]:
    """A workspace with the demo program, the forms and ``known`` leads; their addresses."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import insert

    from nurture.demo_data import generate_leads
    from nurture.store.schema import leads

    engine = demo_workspace(
        root, f'allowed_origins = ["{ORIGIN}"]\nform_rate_limit = 0\nopt_in_emails_per_ip = 1000000\n'
    )
    (root / "campaigns" / "forms.yaml").write_text(FORMS, encoding="utf-8")
    now = datetime.now(UTC) - timedelta(days=5)
    rows = [
        {
            "email": lead["email"], "email_domain": lead["email"].rpartition("@")[2],
            "first_name": lead["first_name"], "country": lead["country"], "attributes": {},
            "created_at": now, "updated_at": now,
        }
        for lead in generate_leads(known)
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(leads), rows)
    engine.dispose()
    return [row["email"] for row in rows]


def bodies(kind: str, count: int, known: list[str], salt: str, one_address: bool = False) -> list[list[str]]:
    """[form key, urlencoded body, visitor's address or ""] for each post of a scenario."""
    rng = random.Random(7)
    posts = []
    for n in range(count):
        if kind == "known":
            email = known[n % len(known)]
            key = "demo"
        else:
            email = f"{kind}-{salt}-{n}@firma{n % 97}.example"
            key = "newsletter" if kind == "double_opt_in" else "demo"
        fields = {"email": email, "first_name": "Lena", "consent": "on", "website": ""}
        if key == "demo":
            fields.update(company=f"Firma {rng.randrange(500)}", job_title="Head of Operations", country="DE")
        visitor = "" if one_address else f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
        posts.append([key, urlencode(fields), visitor])
    return posts


def _request(post: list[str]) -> bytes:
    key, body, visitor = post
    data = body.encode("ascii")
    forwarded = f"X-Forwarded-For: {visitor}\r\n" if visitor else ""
    return (
        f"POST /forms/{key} HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: {ORIGIN}\r\n{forwarded}"
        f"Referer: {ORIGIN}/seite\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(data)}\r\n\r\n".encode("ascii")
        + data
    )


def _answered(head: bytes, body: bytes) -> bool:
    return head.startswith(b"HTTP/1.1 303")


async def _load(port: int, posts: list[list[str]], connections: int, seconds: float) -> dict[str, float]:
    return await drive(port, posts, connections, seconds, _request, _answered)


def load(port: int, posts_file: Path, connections: int, seconds: float) -> None:
    posts = json.loads(posts_file.read_text())
    print(json.dumps(asyncio.run(_load(port, posts, connections, seconds))))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--quick", action="store_true", help="1,000 posts per scenario, at most 10 s each")
    parser.add_argument("--one-address", action="store_true", help="every post from 127.0.0.1")
    parser.add_argument("--serve", nargs=2, metavar=("ROOT", "PORT"), help=argparse.SUPPRESS)
    parser.add_argument("--load", nargs=2, metavar=("PORT", "POSTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), int(args.serve[1]))
        return
    if args.load:
        load(int(args.load[0]), Path(args.load[1]), args.connections, args.seconds)
        return
    if args.quick:
        args.requests, args.seconds = 1_000, min(args.seconds, 10.0)

    results: dict[str, dict[str, float]] = {}
    load_before = _load_average()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        known = prepare(root, max(args.requests, 1_000))
        with running_server(__file__, root) as port:
            command = [sys.executable, __file__, "--connections", str(args.connections)]
            # A short warm-up so imports, templates and the first connections are not measured.
            warm = root / "warm.json"
            warm.write_text(json.dumps(bodies("new", 200, known, "warm", args.one_address)))
            run_load(command, port, warm)
            for kind in ("new", "known", "double_opt_in"):
                posts_file = root / f"{kind}.json"
                posts_file.write_text(json.dumps(bodies(kind, args.requests, known, "run", args.one_address)))
                cpu_before = server_cpu_seconds()
                results[kind] = run_load([*command, "--seconds", str(args.seconds)], port, posts_file)
                cpu_after = server_cpu_seconds()
                if cpu_before is not None and cpu_after is not None and results[kind]["requests"]:
                    results[kind]["cpu_ms"] = (cpu_after - cpu_before) * 1000 / results[kind]["requests"]

    print(f"load average before the run: {load_before}; after: {_load_average()}")
    addresses = "every post from one address" if args.one_address else "a visitor address per post"
    print(
        f"server: uvicorn ({uvicorn_flavour()}), 1 worker, SQLite, scoring on, rate limit off; "
        f"load: {args.connections} keep-alive connections from a second process, {addresses}, "
        f"{os.cpu_count()} cores; target >= {TARGET_PER_S} req/s, p99 < {TARGET_P99_MS:g} ms"
    )
    print(
        f"{'scenario':<14} {'posts':>7} {'errors':>7} {'req/s':>7} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7}"
        f" {'CPU ms/post':>12} {'cap/s':>7}"
    )
    for kind, r in results.items():
        print(
            f"{kind:<14} {r['requests']:>7.0f} {r['errors']:>7.0f} {r['per_s']:>7,.0f} "
            f"{r['p50']:>7.2f} {r['p90']:>7.2f} {r['p99']:>7.2f}"
            + (f" {r['cpu_ms']:>12.2f} {1000 / r['cpu_ms']:>7,.0f}" if r.get("cpu_ms") else "")
        )


def _load_average() -> str:
    return " ".join(f"{n:.2f}" for n in os.getloadavg())


if __name__ == "__main__":
    main()
