"""Lead import throughput and memory: 100,000 and 1,000,000 generated leads from CSV into SQLite.

Each size runs in its own process so peak memory (max RSS) is measured per run; the figures are
printed side by side with their ratio. Targets: >= 50,000 rows/s, and peak memory that does not
grow with the file (1M / 100k RSS ratio close to 1).

    .venv/bin/python benchmarks/bench_import.py [--sizes 100000,1000000]
"""

from __future__ import annotations

import argparse
import json
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
        started = time.perf_counter()
        report = LeadImporter(engine, datetime(2026, 1, 1, tzinfo=UTC)).run(path)
        elapsed = time.perf_counter() - started
        engine.dispose()
    assert report.created == size, report
    return {
        "rows": size,
        "seconds": elapsed,
        "rows_per_s": size / elapsed,
        "rss_before_mb": rss_before / 1024,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


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
    print(f"{'rows':>10} {'seconds':>8} {'rows/s':>10} {'peak RSS MB':>12}")
    for r in results:
        print(f"{r['rows']:>10,} {r['seconds']:>8.1f} {r['rows_per_s']:>10,.0f} {r['peak_rss_mb']:>12.1f}")
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
