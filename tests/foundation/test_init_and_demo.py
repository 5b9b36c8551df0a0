"""A newcomer's first minutes: `nurture init` and `nurture demo` on the embedded defaults."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from nurture.cli import main

MONDAY_MORNING = {"NURTURE_NOW": "2026-03-02T06:00:00Z"}


def run(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args), env=env)


def test_init_creates_a_workspace_that_checks_clean_and_imports_its_leads(tmp_path: Path) -> None:
    root = tmp_path / "programm"
    result = run("init", str(root))
    assert result.exit_code == 0, result.output
    for part in ("nurture.toml", "campaigns", "templates", "leads.csv", "nurture.db", ".nurture/secret_key"):
        assert (root / part).exists(), part
    check = run("--workspace", str(root), "check")
    assert check.exit_code == 0, check.output
    imported = run("--workspace", str(root), "leads", "import", str(root / "leads.csv"))
    assert imported.exit_code == 0, imported.output
    assert "300 created" in imported.output
    again = run("init", str(root))
    assert again.exit_code == 1 and "not empty" in again.output


def test_demo_runs_end_to_end_and_says_where_the_emails_are(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    # The generated past year (seconds of CPU) is the next test's subject; here it is left out.
    result = run("demo", str(root), "--leads", "40", "--days", "6", "--no-history", env=MONDAY_MORNING)
    assert result.exit_code == 0, result.output
    assert "emails per step" in result.output
    assert str(root / "outbox" / "new") in result.output
    emails = list((root / "outbox" / "new").iterdir())
    assert len(emails) >= 30
    again = run("demo", str(root), "--leads", "10", "--days", "1", "--no-history", env=MONDAY_MORNING)
    assert again.exit_code == 0, again.output  # a demo folder is replaced, not refused
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("x")
    refused = run("demo", str(tmp_path / "mine"))
    assert refused.exit_code == 1 and "not made by `nurture demo`" in refused.output


def test_the_demo_funnel_reaches_customers_and_its_score_can_be_checked(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    result = run("demo", str(root), "--leads", "20", "--days", "2", env=MONDAY_MORNING)
    assert result.exit_code == 0, result.output
    assert "loaded 2500 generated leads of the past year" in result.output
    reached = dict(
        (line.split()[1], int(line.split()[2]))
        for line in result.output.splitlines()
        if line.strip().startswith("reached ")
    )
    assert reached["sql"] > 0 and reached["opportunity"] > 0 and reached["customer"] > 0
    assert "score health" in result.output and "AUC 0." in result.output
    assert "MQL threshold in force 100" in result.output
    # The past year's sales side: reps answered, deals have amounts, owners are known.
    report = json.loads(run("--workspace", str(root), "report", "--json", env=MONDAY_MORNING).output)
    legs = {leg["leg"]: leg for leg in report["velocity"]["legs"]}
    assert legs["mql -> sal"]["leads"] > 0
    assert report["sla"]["handoffs"] == sum(rep["handoffs"] for rep in report["sla"]["by_rep"]) > 0
    assert all(rep["sals"] > 0 for rep in report["sla"]["by_rep"])
    revenue = report["money"]["revenue"]
    assert revenue and all(amount > 0 for amount in revenue.values())
    quiet = run("demo", str(root), "--leads", "20", "--days", "1", "--no-history", env=MONDAY_MORNING)
    assert quiet.exit_code == 0 and "score health" not in quiet.output
