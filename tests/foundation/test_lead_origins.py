"""A lead file from another tool says when each lead began there and its number there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from nurture.store.schema import leads, stage_changes

ENV = {"NURTURE_NOW": "2026-03-02T09:00:00Z"}


def rows(store: Engine) -> dict[str, Any]:
    with store.connect() as conn:
        return {
            r.email: r for r in conn.execute(select(leads.c.email, leads.c.external_id, leads.c.created_at))
        }


def test_created_at_and_external_id_are_kept_and_conflicts_left_out(
    cli: Any, workspace: Path, store: Engine
) -> None:
    path = workspace / "crm.csv"
    path.write_text(
        "email,first_name,external_id,created_at\n"
        "anna@firma.de,Anna,CRM-1,2025-05-01T09:00:00Z\n"
        "ben@firma.de,Ben,CRM-2,2025-06-01\n"
        "cara@firma.de,Cara,CRM-1,\n"  # Anna's number
        "dora@firma.de,Dora,,2027-01-01T00:00:00Z\n",  # in the future
        encoding="utf-8",
    )
    result = cli("leads", "import", str(path), "--json", env=ENV)
    report = json.loads(result.stdout)
    assert (report["created"], report["rejected"], report["fields_skipped"]) == (4, 0, 2)
    messages = {p["row"]: p["message"] for p in report["problems"]}
    assert messages[4] == "external_id: 'CRM-1' belongs to another lead; stored without this field"
    assert "created_at: 2027-01-01T00:00:00+00:00 is in the future" in messages[5]
    found = rows(store)
    assert (found["anna@firma.de"].external_id, found["anna@firma.de"].created_at.isoformat()) == (
        "CRM-1", "2025-05-01T09:00:00+00:00",
    )  # fmt: skip
    assert found["ben@firma.de"].created_at.isoformat() == "2025-06-01T00:00:00+00:00"
    assert found["cara@firma.de"].external_id is None
    assert found["dora@firma.de"].created_at.isoformat() == "2026-03-02T09:00:00+00:00"
    with store.connect() as conn:
        first = conn.execute(
            select(stage_changes.c.at).join(leads, leads.c.id == stage_changes.c.lead_id)
            .where(leads.c.email == "anna@firma.de")
        ).scalar_one()  # fmt: skip
    assert first.isoformat() == "2025-05-01T09:00:00+00:00"
    # Again, with a later date and another number: a start never moves forward, a number stays.
    path.write_text("email,external_id,created_at\nanna@firma.de,CRM-9,2025-07-01\n", encoding="utf-8")
    again = json.loads(cli("leads", "import", str(path), "--json", env=ENV).stdout)
    assert again["problems"][0]["message"].startswith("external_id: the lead has external_id 'CRM-1'")
    assert rows(store)["anna@firma.de"].created_at.isoformat() == "2025-05-01T09:00:00+00:00"


def test_json_lines_give_them_as_values(cli: Any, workspace: Path, store: Engine) -> None:
    path = workspace / "one.jsonl"
    path.write_text(
        json.dumps({"email": "eva@firma.de", "external_id": 4711, "created_at": "2024-01-02T03:04:05Z"})
        + "\n",
        encoding="utf-8",
    )
    assert cli("leads", "import", str(path), env=ENV).exit_code == 0
    eva = rows(store)["eva@firma.de"]
    assert (eva.external_id, eva.created_at.isoformat()) == ("4711", "2024-01-02T03:04:05+00:00")


def test_a_row_without_an_address_updates_the_lead_holding_its_external_id(
    cli: Any, workspace: Path, store: Engine
) -> None:
    first = workspace / "crm.csv"
    first.write_text(
        "email,first_name,external_id\nanna@firma.de,Anna,CRM-1\nben@firma.de,Ben,CRM-2\n", encoding="utf-8"
    )
    assert cli("leads", "import", str(first), env=ENV).exit_code == 0
    # The CRM's export of changes: its numbers, no addresses (and no email column at all).
    changes = workspace / "changes.csv"
    changes.write_text(
        "external_id,last_name,company\n"
        "CRM-1,Schmidt,Firma GmbH\n"
        "CRM-7,Nobody,\n"  # a number no lead holds
        ",Nameless,\n"  # neither an address nor a number
        "CRM-2,,Bergwerk\n"
        "CRM-1,Again,\n",  # Anna's number again: a repeat of row 2
        encoding="utf-8",
    )
    result = cli("leads", "import", str(changes), "--json", env=ENV)
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert (report["created"], report["updated"], report["rejected"]) == (0, 2, 3)
    assert {p["row"]: p["message"] for p in report["problems"]} == {
        3: "email: no lead has external_id 'CRM-7'; give the email to create one",
        4: "email: is missing",
        6: "email: anna@firma.de already appears in row 2; row skipped",
    }
    with store.connect() as conn:
        found = {
            r.email: r
            for r in conn.execute(
                select(leads.c.email, leads.c.first_name, leads.c.last_name, leads.c.company)
            )
        }
    assert set(found) == {"anna@firma.de", "ben@firma.de"}
    assert (found["anna@firma.de"].first_name, found["anna@firma.de"].last_name) == ("Anna", "Schmidt")
    assert found["anna@firma.de"].company == "Firma GmbH"
    assert (found["ben@firma.de"].last_name, found["ben@firma.de"].company) == (None, "Bergwerk")
    # The same file again changes nothing.
    again = json.loads(cli("leads", "import", str(changes), "--json", env=ENV).stdout)
    assert (again["updated"], again["unchanged"], again["rejected"]) == (0, 2, 3)


def test_json_lines_name_a_lead_by_its_number_and_a_dry_run_finds_it_too(
    cli: Any, workspace: Path, store: Engine
) -> None:
    path = workspace / "one.jsonl"
    path.write_text(json.dumps({"email": "eva@firma.de", "external_id": 4711}) + "\n", encoding="utf-8")
    assert cli("leads", "import", str(path), env=ENV).exit_code == 0
    path.write_text(
        json.dumps({"external_id": 4711, "job_title": "Einkauf"})
        + "\n"
        + json.dumps({"external_id": 42})
        + "\n",
        encoding="utf-8",
    )
    dry = json.loads(cli("leads", "import", str(path), "--dry-run", "--json", env=ENV).stdout)
    assert (dry["updated"], dry["rejected"]) == (1, 1)
    assert "no lead has external_id '42'" in dry["problems"][0]["message"]
    with store.connect() as conn:
        assert conn.execute(select(leads.c.job_title)).scalar_one() is None
    done = json.loads(cli("leads", "import", str(path), "--json", env=ENV).stdout)
    assert (done["updated"], done["rejected"]) == (1, 1)
    with store.connect() as conn:
        assert conn.execute(select(leads.c.email, leads.c.job_title)).one() == ("eva@firma.de", "Einkauf")
