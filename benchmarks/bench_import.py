"""Lead import throughput and memory: 100,000 and 1,000,000 generated leads from CSV into SQLite.

Each size runs in its own process so peak memory (max RSS) is measured per run; the figures are
printed side by side with their ratio. Targets: >= 50,000 rows/s, and peak memory that does not
grow with the file (1M / 100k RSS ratio close to 1).

Wall-clock figures depend on what else the machine runs, so the CPU time per row is printed too,
split between the reading thread (parsing, checking) and the writing one (SQLite): on two idle
cores the import runs about as fast as the busier of the two. "Others" is how many CPUs other
processes kept busy, on average, during the import (from /proc/stat): above zero, the wall-clock
figures are pessimistic.

    .venv/bin/python benchmarks/bench_import.py [--sizes 100000,1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

DATA = Path(__file__).resolve().parent / ".data"
TARGET_ROWS_PER_S = 50_000


def csv_file(size: int) -> Path:
    from nurture.demo_data import write_leads_csv

    DATA.mkdir(exist_ok=True)
    path = DATA / f"leads-{size}.csv"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        write_leads_csv(tmp, size, seed=size)
        tmp.rename(path)
    return path


def run_one(size: int) -> dict[str, float]:
    from nurture.leads.importer import LeadImporter
    from nurture.store.engine import create_store_engine
    from nurture.store.migrate import upgrade

    path = csv_file(size)
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_store_engine(f"sqlite:///{tmp}/bench.db")
        upgrade(engine)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        cpu_before, reading_before, busy_before = _cpu_seconds(), time.thread_time(), _machine_busy_seconds()
        started = time.perf_counter()
        report = LeadImporter(engine, datetime(2026, 1, 1, tzinfo=UTC)).run(path)
        elapsed = time.perf_counter() - started
        # The calling thread reads and checks; the rest of the process's CPU time is the writer's.
        reading = time.thread_time() - reading_before
        own = _cpu_seconds() - cpu_before
        writing = own - reading
        others = _machine_busy_seconds() - busy_before - own
        engine.dispose()
    assert report.created == size, report
    return {
        "rows": size,
        "seconds": elapsed,
        "rows_per_s": size / elapsed,
        "reading_us_per_row": reading / size * 1e6,
        "writing_us_per_row": writing / size * 1e6,
        "other_cpus": max(0.0, others / elapsed),
        "rss_before_mb": rss_before / 1024,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _machine_busy_seconds() -> float:
    """CPU time spent by everything on the machine so far (Linux; 0 elsewhere)."""
    try:
        ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except OSError:
        return 0.0
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child)))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    for size in sizes:
        csv_file(size)  # generate outside the timed child
    results = []
    for size in sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(size)], check=True, capture_output=True, text=True
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(
        f"{'rows':>10} {'seconds':>8} {'rows/s':>10} {'peak RSS MB':>12} {'CPU µs/row read':>16} {'write':>6}"
        f" {'others':>7}"
    )
    for r in results:
        print(
            f"{r['rows']:>10,} {r['seconds']:>8.1f} {r['rows_per_s']:>10,.0f} {r['peak_rss_mb']:>12.1f} "
            f"{r['reading_us_per_row']:>16.1f} {r['writing_us_per_row']:>6.1f} {r['other_cpus']:>7.2f}"
        )
    slowest = min(r["rows_per_s"] for r in results)
    print(
        f"target {TARGET_ROWS_PER_S:,} rows/s: slowest run {slowest:,.0f} rows/s "
        f"({slowest / TARGET_ROWS_PER_S:.2f}x the target)"
    )
    if len(results) > 1:
        ratio = results[-1]["peak_rss_mb"] / results[0]["peak_rss_mb"]
        print(
            f"peak memory {results[-1]['rows']:,} vs {results[0]['rows']:,} rows: {ratio:.2f}x "
            "(1.0 = does not grow with the file)"
        )


if __name__ == "__main__":
    main()
