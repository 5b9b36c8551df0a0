"""``nurture check`` warns when a double opt-in form puts a topic under the consent rule while
campaigns that existing leads are in (or can enter) mail on it: those leads would quietly stop
getting that mail. Counted when the database can say, plainly when it cannot."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from nurture.leads.consent import record_consent
from nurture.store.schema import leads
from tests.harness import Harness
from tests.program import write_program

NOW = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
SITE = "https://www.taktwerk.example"


def form(topic: str) -> str:
    return f"""\
kind: Form
key: newsletter
fields:
  - {{name: email, maps_to: email, type: email, required: true}}
consent: {{text: "Ja, Newsletter bitte.", version: "v1", topics: [{topic}]}}
double_opt_in: true
thank_you: {SITE}/danke
"""


NEWSLETTER_CAMPAIGN = """\
---
kind: Topic
key: newsletter
name: {de: Newsletter, en: Newsletter}
---
kind: Campaign
key: newsletter
topic: newsletter
entry: {on: event, type: opt_in_confirmed}
steps:
  - send: {template: t/newsletter, subject: "Ihr erster Newsletter"}
"""


def set_up(workspace: Path, extra: str, settings: str = "") -> None:
    write_program(workspace, extra=extra)
    toml = workspace / "nurture.toml"
    kept = [line for line in toml.read_text().splitlines() if line.startswith(("database_url", "secret_key"))]
    toml.write_text("\n".join(kept) + f'\nallowed_origins = ["{SITE}"]\n{settings}', encoding="utf-8")


def warnings(cli: Any) -> list[str]:
    result = cli("check", "--json")
    assert result.exit_code == 0, result.output
    return [p["message"] for p in json.loads(result.stdout)["problems"] if p["severity"] == "warning"]


def reach(messages: list[str]) -> list[str]:
    return [m for m in messages if "double_opt_in puts topic" in m]


def test_a_form_on_the_marketing_topic_counts_the_leads_it_would_stop_mailing(
    cli: Any, workspace: Path, store: Engine
) -> None:
    set_up(workspace, form("marketing"))
    harness = Harness(workspace, store)
    harness.import_leads(
        "email,first_name,country,timezone\n"
        "anna@firma.de,Anna,DE,Europe/Berlin\nben@firma.de,Ben,DE,Europe/Berlin\n"
        "cara@firma.de,Cara,DE,Europe/Berlin\ndirk@firma.fr,Dirk,FR,Europe/Paris\n",
        NOW,
    )
    harness.tick(NOW)  # the three in DE enter the trial (marketing); Dirk enters nothing
    with store.begin() as conn:
        ids = {email: lead_id for email, lead_id in conn.execute(select(leads.c.email, leads.c.id))}
        # Anna confirmed; Ben confirmed and withdrew later; Cara and Dirk never said.
        record_consent(conn, ids["anna@firma.de"], "marketing", "confirmed", NOW, source="fair")
        record_consent(conn, ids["ben@firma.de"], "marketing", "confirmed", NOW, source="fair")
        record_consent(conn, ids["ben@firma.de"], "marketing", "withdrawn", NOW, source="link")
        record_consent(conn, ids["cara@firma.de"], "newsletter", "confirmed", NOW, source="fair")
    (message,) = reach(warnings(cli))
    assert message.startswith(
        "double_opt_in puts topic 'marketing' under the consent rule, and campaigns mail on it "
        "(recycle, trial): 2 leads now in them have no confirmed consent on it and 3 leads without "
        "it can still enter them;"
    ), message
    assert "recorded as 'suppressed: no consent'" in message
    # The text output names the form's file and line, as a warning that does not fail the check.
    result = cli("check")
    assert result.exit_code == 0, result.output
    assert "extra.yaml:6:" in result.output and "double_opt_in puts topic 'marketing'" in result.output


def test_without_a_database_the_warning_is_plain(cli: Any, workspace: Path) -> None:
    set_up(workspace, form("marketing"))
    toml = workspace / "nurture.toml"
    missing = workspace / "not-yet.db"
    toml.write_text(
        "\n".join(
            f'database_url = "sqlite:///{missing}"' if line.startswith("database_url") else line
            for line in toml.read_text().splitlines()
        )
        + "\n",
        encoding="utf-8",
    )
    (message,) = reach(warnings(cli))
    assert "(recycle, trial): existing leads without confirmed consent on it;" in message, message
    assert not missing.exists()


def test_no_warning_where_the_form_changes_nothing_for_existing_leads(
    cli: Any, workspace: Path, store: Engine
) -> None:
    # Its own topic, mailed only to those who confirmed: nobody is held back.
    set_up(workspace, form("newsletter") + NEWSLETTER_CAMPAIGN)
    Harness(workspace, store).import_leads("email,first_name,country\nanna@firma.de,Anna,DE\n", NOW)
    assert reach(warnings(cli)) == []
    # The marketing topic, but require_consent asks for confirmed consent anyway.
    set_up(workspace, form("marketing"), "require_consent = true\n")
    assert reach(warnings(cli)) == []


def test_no_warning_when_no_existing_lead_lacks_consent(cli: Any, workspace: Path, store: Engine) -> None:
    set_up(workspace, form("marketing"))
    assert reach(warnings(cli)) == []  # a database without leads
