"""The leads commands as an operator runs them: import, show (--json), forget."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select

from nurture.leads.addresses import suppression_hash
from nurture.store.engine import create_store_engine
from nurture.store.schema import leads, suppressions

CSV = (
    "email,first_name,last_name,company,country,lifecycle_stage,quelle\n"
    "petra.vogel@example.com,Petra,Vogel,Alpenblick AG,CH,lead,messe\n"
    "kaputt,Kai,,,,,\n"
)


def test_import_reports_bad_rows_on_stderr_and_exits_1(cli, workspace: Path) -> None:  # type: ignore[no-untyped-def]
    (workspace / "leads.csv").write_text(CSV, encoding="utf-8")
    result = cli("leads", "import", str(workspace / "leads.csv"))
    assert result.exit_code == 1
    assert "row 3: email: 'kaputt' is not an e-mail address" in result.output
    assert "2 rows, 1 created, 0 updated, 0 unchanged, 1 rejected" in result.output


def test_show_json_has_the_documented_keys(cli, workspace: Path) -> None:  # type: ignore[no-untyped-def]
    (workspace / "leads.csv").write_text(
        CSV.splitlines()[0] + "\n" + CSV.splitlines()[1] + "\n", encoding="utf-8"
    )
    assert cli("leads", "import", str(workspace / "leads.csv")).exit_code == 0
    result = cli("leads", "show", "Petra.Vogel@example.com", "--json")
    assert result.exit_code == 0, result.output
    profile = json.loads(result.stdout)
    for key in (
        "email",
        "lifecycle_stage",
        "score",
        "owner",
        "unsubscribed",
        "enrollments",
        "messages",
        "score_events",
        "stage_history",
    ):
        assert key in profile
    assert profile["email"] == "petra.vogel@example.com"
    assert profile["owner"] is None and profile["unsubscribed"] is False
    assert profile["attributes"] == {"quelle": "messe"}
    assert profile["stage_history"][0]["to"] == "lead"
    assert set(profile["stage_history"][0]) >= {"from", "to", "at", "reason"}

    human = cli("leads", "show", "petra.vogel@example.com")
    assert human.exit_code == 0 and "Petra Vogel" in human.output and "Alpenblick AG" in human.output


def test_show_unknown_lead_is_a_clear_error(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("leads", "show", "nobody@example.com")
    assert result.exit_code == 1
    assert "no lead with e-mail 'nobody@example.com'" in result.output


def test_forget_erases_the_lead_and_keeps_only_a_hash(cli, workspace: Path, store_url: str) -> None:  # type: ignore[no-untyped-def]
    (workspace / "leads.csv").write_text(
        CSV.splitlines()[0] + "\n" + CSV.splitlines()[1] + "\n", encoding="utf-8"
    )
    cli("leads", "import", str(workspace / "leads.csv"))
    result = cli("leads", "forget", "petra.vogel@example.com", "--yes")
    assert result.exit_code == 0, result.output
    engine = create_store_engine(store_url)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(leads)) == 0
        reason = conn.scalar(
            select(suppressions.c.reason).where(
                suppressions.c.email_hash == suppression_hash("petra.vogel@example.com")
            )
        )
    engine.dispose()
    assert reason == "forgotten"
    assert cli("leads", "show", "petra.vogel@example.com").exit_code == 1
    again = cli("leads", "import", str(workspace / "leads.csv"))
    assert "1 addresses are suppressed" in again.output


def test_commands_refuse_a_database_that_is_not_set_up(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from nurture.cli import main

    root = tmp_path / "fresh"
    (root / "campaigns").mkdir(parents=True)
    result = CliRunner().invoke(main, ["--workspace", str(root), "leads", "show", "a@b.de"])
    assert result.exit_code == 1
    assert "run `nurture db upgrade`" in result.output
    assert CliRunner().invoke(main, ["--workspace", str(root), "db", "upgrade"]).exit_code == 0
    assert (root / "nurture.db").exists()


def test_forget_without_a_terminal_needs_yes(cli, workspace: Path, store_url: str) -> None:  # type: ignore[no-untyped-def]
    (workspace / "leads.csv").write_text(
        CSV.splitlines()[0] + "\n" + CSV.splitlines()[1] + "\n", encoding="utf-8"
    )
    cli("leads", "import", str(workspace / "leads.csv"))
    result = cli("leads", "forget", "petra.vogel@example.com", input="")
    assert result.exit_code == 1
    assert "--yes" in result.output
    engine = create_store_engine(store_url)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(leads)) == 1
    engine.dispose()


def test_show_prints_lead_data_as_text_not_as_markup(cli, workspace: Path) -> None:  # type: ignore[no-untyped-def]
    (workspace / "leads.csv").write_text(
        "email,first_name,company,quelle\n"
        "eva@example.com,[bold]Eva[/bold],[link=https://evil.example]Acme[/link],[red]x[/red]\n",
        encoding="utf-8",
    )
    assert cli("leads", "import", str(workspace / "leads.csv")).exit_code == 0
    human = cli("leads", "show", "eva@example.com")
    assert human.exit_code == 0, human.output
    assert "[bold]Eva[/bold]" in human.output
    assert "[link=https://evil.example]Acme[/link]" in human.output
    assert "quelle=[red]x[/red]" in human.output
