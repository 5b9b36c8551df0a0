"""Memory of ``nurture run`` idle with 1,000,000 leads enrolled (target: RSS <= 200 MB).

Fills a database with ``--leads`` leads, each enrolled and waiting for days (bench_engine's
program), starts ``nurture run`` on it with every job on its default schedule, lets it run its
first rounds of jobs (advance, stats, segments ...: nothing is due) for ``--seconds``, and prints
the process's resident memory now and at its peak (VmRSS and VmHWM from /proc), sampled every
half second. PostgreSQL wherever one answers (``--database-url``, ``NURTURE_TEST_POSTGRES_URL`` or
the local default), else SQLite.

The default size is smaller (200,000 leads) for a shared machine; ``--leads 1000000`` is the full
size.

    .venv/bin/python benchmarks/bench_memory.py [--leads 1000000] [--seconds 30] [--sqlite]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench_engine import NOW, fill, workspace
from bench_send import free_port
from postgres import admin_url, create_database, drop_database

from nurture.definitions import content_hash, load_program
from nurture.store.engine import create_store_engine
from nurture.store.migrate import upgrade

TARGET_MB = 200.0


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of ``pid`` in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(value.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return int(response.status) == 200
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description="RSS of nurture run idle with many leads enrolled")
    parser.add_argument("--leads", type=int, default=200_000, help="leads enrolled (full size: 1000000)")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to watch it idle")
    parser.add_argument("--sqlite", action="store_true", help="SQLite even when PostgreSQL answers")
    parser.add_argument("--database-url", help="PostgreSQL server (default: the local one, if it answers)")
    args = parser.parse_args()
    admin = None if args.sqlite else admin_url(args.database_url)
    name = f"nurture_memory_{os.getpid()}"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = create_database(admin, name) if admin else f"sqlite:///{folder / 'bench.db'}"
        try:
            ws = workspace(folder / "ws")
            db = create_store_engine(url)
            upgrade(db)
            fill(db, args.leads, 0, content_hash(load_program(ws).campaign("bench")))
            db.dispose()
            (ws.root / "nurture.toml").write_text(
                f'database_url = "{url}"\ntimezone = "Europe/Berlin"\nmetrics_bind = ""\n', encoding="utf-8"
            )
            port = free_port()
            env = {
                **os.environ,
                "NURTURE_WORKSPACE": str(ws.root),
                "NURTURE_NOW": NOW.isoformat(),  # nothing is due: every lead waits for days
                "NURTURE_HTTP_PORT": str(port),
            }
            log = (folder / "daemon.log").open("wb")
            daemon = subprocess.Popen([sys.executable, "-m", "nurture", "run"], env=env, stderr=log)
            try:
                deadline = time.monotonic() + 120
                while not healthy(port):
                    if daemon.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit(
                            f"nurture run did not start:\n{(folder / 'daemon.log').read_text()[-2000:]}"
                        )
                    time.sleep(0.5)
                started = time.monotonic()
                samples = []
                while time.monotonic() - started < args.seconds:
                    samples.append(memory_mb(daemon.pid))
                    time.sleep(0.5)
                rss, peak = memory_mb(daemon.pid)
            finally:
                daemon.send_signal(signal.SIGTERM)
                daemon.wait(timeout=30)
        finally:
            if admin:
                drop_database(admin, name)
    engine = "PostgreSQL" if admin else "SQLite"
    highest = max(max(s[0] for s in samples), rss)
    print(
        f"nurture run idle, {args.leads:,} leads enrolled, {engine}, watched {args.seconds:g} s; shared machine"
    )
    print(f"{'measure':<40} {'MB':>8} {'target':>9}")
    print(f"{'RSS at the end':<40} {rss:>8,.0f} {'<= 200':>9} ({TARGET_MB / rss:.1f}x)")
    print(f"{'highest RSS sampled':<40} {highest:>8,.0f} {'<= 200':>9} ({TARGET_MB / highest:.1f}x)")
    print(f"{'peak RSS (VmHWM, start included)':<40} {peak:>8,.0f}")


if __name__ == "__main__":
    main()
