"""Checking and tuning the score at scale: backtest, suggested points and rescore on SQLite.

A generated history (:mod:`nurture.scoring.synthetic`: leads with events over months, a realistic
ledger of about ten lines a lead, sales outcomes for MQLs) is loaded into a fresh SQLite database.
Then, each in a fresh process so its peak memory is its own:

- ``score evaluate`` and ``score suggest`` read every lead's snapshot from the ledger and compute
  their figures: seconds and peak memory (target: under 60 s and 1 GB for 1,000,000 leads);
- ``score rescore`` after an edit of the model that changes most leads: leads/s (target: at least
  20,000/s).

    .venv/bin/python benchmarks/bench_score.py [--leads 1000000 | --quick] [--data DIR] [--only WHAT]

``--quick`` takes 20,000 leads; the figures print beside the ones a million leads would take at the
same rate, so they can be read against the targets. Generating a million leads takes a long while, so
``--data DIR`` keeps the loaded workspace in DIR and a later run with the same DIR (and size) reuses
it; rescore then runs on a copy of it, because it changes the database, so every run measures from the
same state. ``--only evaluate`` or ``--only rescore`` measures one of the two.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from synthetic_program import PROGRAM_YAML, peak_mb

from nurture.lifecycle import Lifecycle
from nurture.store.engine import create_store_engine
from nurture.store.migrate import upgrade


def prepare(root: Path, count: int) -> None:
    from nurture.scoring.synthetic import generate_history
    from nurture.scoring.synthetic_store import load_history

    (root / "campaigns").mkdir(parents=True)
    (root / "templates").mkdir()
    (root / "nurture.toml").write_text(
        f'database_url = "sqlite:///{root / "nurture.db"}"\nsecret_key = "bench-secret-0123456789"\n',
        encoding="utf-8",
    )
    (root / "campaigns" / "program.yaml").write_text(PROGRAM_YAML, encoding="utf-8")
    db = create_store_engine(f"sqlite:///{root / 'nurture.db'}")
    upgrade(db)
    started = time.perf_counter()
    done = 0
    for part in range(0, count, 50_000):
        history = generate_history(seed=part, leads=min(50_000, count - part))
        if part:  # each part numbers its leads from 0: their addresses must not meet the first part's
            history = replace(
                history, leads=tuple(replace(lead, email=f"p{part}.{lead.email}") for lead in history.leads)
            )
        with db.begin() as conn:
            load_history(conn, history)
        done += len(history.leads)
        print(f"  generated and loaded {done} leads ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    db.dispose()
    (root / "now").write_text(history.now.isoformat(), encoding="utf-8")


def measure(root: Path, what: str) -> dict[str, float]:
    from datetime import datetime

    from nurture.definitions import load_program
    from nurture.scoring.backtest import evaluate
    from nurture.scoring.rescore import rescore
    from nurture.scoring.snapshot_stream import read_samples
    from nurture.scoring.snapshots import ModelRules, Question
    from nurture.scoring.suggest import suggest_points
    from nurture.scoring.version import mql_threshold
    from nurture.workspace import Workspace

    workspace = Workspace(root)
    now = datetime.fromisoformat((root / "now").read_text(encoding="utf-8"))
    db = create_store_engine(workspace.database_url)
    if what == "rescore":
        path = root / "campaigns" / "program.yaml"
        path.write_text(
            path.read_text(encoding="utf-8").replace("points: 5}", "points: 7}"), encoding="utf-8"
        )
    program = load_program(workspace)
    assert program.scoring_model is not None
    rules = ModelRules.of(program.scoring_model)
    started, cpu = time.perf_counter(), time.process_time()
    if what == "evaluate":
        with db.connect() as conn:
            found = read_samples(conn, Question(), rules, now)
        read = time.perf_counter() - started
        backtest = evaluate(found.samples, threshold=mql_threshold(program), left_out=found.left_out)
        suggestion = suggest_points(found.samples, rules)
        seconds = time.perf_counter() - started
        return {"seconds": seconds, "cpu_s": time.process_time() - cpu, "reading_s": read, "peak_mb": peak_mb(),
                "leads": backtest.leads,
                "auc": backtest.auc.value if backtest.auc else -1.0, "rules": len(suggestion.rules),
                "load": os.getloadavg()[0]}  # fmt: skip
    chain = Lifecycle.of(program, workspace.settings)
    report = rescore(
        db, program, now, then=chain.scores_rose, default_zone=chain.sales.default_zone, max_mqls=0
    )
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "cpu_s": time.process_time() - cpu,
        "leads_per_s": report.leads / seconds,
        "changed": report.changed,
        "peak_mb": peak_mb(),
        "load": os.getloadavg()[0],
    }


def kept_workspace(data: Path, count: int) -> Path:
    """Where a kept workspace of this size lives; one left half-loaded by an interrupted run has no
    ``now`` file and is loaded afresh."""
    root = data / f"ws-{count}"
    if root.exists() and not (root / "now").exists():
        shutil.rmtree(root)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="20,000 leads")
    parser.add_argument("--data", type=Path, help="keep the loaded workspace here and reuse it")
    parser.add_argument("--only", choices=("evaluate", "rescore"), help="measure only this")
    parser.add_argument("--measure", choices=("evaluate", "rescore"), help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.root, args.measure)))
        return
    if args.quick:
        args.leads = 20_000
    scale = 1_000_000 / args.leads
    if args.data:
        args.data.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.data) as folder:
        kept = kept_workspace(args.data, args.leads) if args.data else Path(folder) / "ws"
        if not (kept / "now").exists():
            print(f"preparing {args.leads} leads ...", file=sys.stderr)
            prepare(kept, args.leads)
        else:  # a workspace kept by an earlier version takes the migrations since
            db = create_store_engine(f"sqlite:///{kept / 'nurture.db'}")
            upgrade(db)
            db.dispose()
        for what in (args.only,) if args.only else ("evaluate", "rescore"):
            root = kept
            if what == "rescore" and args.data:  # rescore changes the database: measure on a copy
                root = Path(folder) / "copy"
                shutil.copytree(kept, root)
                (root / "nurture.toml").write_text(
                    (kept / "nurture.toml").read_text(encoding="utf-8").replace(str(kept), str(root)),
                    encoding="utf-8",
                )
            done = subprocess.run(
                [sys.executable, __file__, "--measure", what, "--root", str(root)],
                capture_output=True,
                text=True,
            )
            if done.returncode:
                sys.exit(f"{what} failed:\n{done.stderr}")
            out = done.stdout
            figures = json.loads(out.strip().splitlines()[-1])
            if what == "evaluate":
                print(f"evaluate + suggest, {args.leads} leads: {figures['seconds']:.1f} s "
                      f"({figures['cpu_s']:.1f} s CPU; reading the ledger {figures['reading_s']:.1f} s; "
                      f"x{scale:g}: {figures['seconds'] * scale:.0f} s), "
                      f"peak {figures['peak_mb']:.0f} MB; "
                      f"AUC {figures['auc']:.3f}; load {figures['load']:.1f} on {os.cpu_count()} cores  "
                      "[target: < 60 s and < 1024 MB at 1,000,000]")  # fmt: skip
            else:
                print(f"rescore, {args.leads} leads: {figures['leads_per_s']:,.0f} leads/s "
                      f"({args.leads / figures['cpu_s']:,.0f} a CPU second) "
                      f"({figures['changed']} changed), peak {figures['peak_mb']:.0f} MB; "
                      f"load {figures['load']:.1f} on {os.cpu_count()} cores  [target: >= 20,000/s]")  # fmt: skip


if __name__ == "__main__":
    main()
