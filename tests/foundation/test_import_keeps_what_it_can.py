"""Import that keeps what it can: rows without their bad fields, files from German Excel, list
attributes, international addresses; and its report as JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine

from nurture.leads.importer import LeadImporter
from nurture.store.schema import leads

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def stored(store: Engine) -> dict[str, dict[str, object]]:
    with store.connect() as conn:
        return {row.email: dict(row._mapping) for row in conn.execute(select(leads))}


def test_skip_field_stores_the_row_without_its_bad_values(store: Engine, tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text(
        "email,first_name,country,company_size,timezone\n"
        "anna@alpenblick.de,Anna,Deutschland,viele,Europe/Berlin\n"
        "kaputt,Kai,DE,10,Europe/Berlin\n"
        "ben@keller.ch,Ben,CH,20,Mars/Olympus\n",
        encoding="utf-8",
    )
    report = LeadImporter(store, NOW, skip_fields=True).run(path)
    assert (report.created, report.rejected, report.fields_skipped) == (2, 1, 3)
    messages = [str(p) for p in report.problems]
    assert messages[0].startswith("row 2: country: 'Deutschland' is not a country code")
    assert messages[0].endswith("; stored without this field")
    assert messages[1].startswith("row 2: company_size: 'viele'")
    assert messages[2].startswith("row 3: email:")  # a bad address still rejects its row
    assert messages[3].startswith("row 4: timezone:")
    rows = stored(store)
    assert rows["anna@alpenblick.de"]["country"] is None
    assert rows["anna@alpenblick.de"]["timezone"] == "Europe/Berlin"
    assert rows["ben@keller.ch"]["company_size"] == 20 and rows["ben@keller.ch"]["timezone"] is None


def test_without_skip_field_a_bad_value_rejects_its_row(store: Engine, tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("email,country\nanna@alpenblick.de,Deutschland\n", encoding="utf-8")
    report = LeadImporter(store, NOW).run(path)
    assert (report.created, report.rejected) == (0, 1)


def test_a_cp1252_file_from_german_excel_is_read_with_encoding(store: Engine, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(
        "email;first_name;company\njuergen@firma.de;Jürgen;Müller & Söhne – Straße\n".encode("cp1252")
    )
    assert LeadImporter(store, NOW).run(path).rejected == 1  # read as UTF-8 it is not text
    report = LeadImporter(store, NOW, encoding="cp1252").run(path)
    assert report.created == 1
    row = stored(store)["juergen@firma.de"]
    assert (row["first_name"], row["company"]) == ("Jürgen", "Müller & Söhne – Straße")


def test_latin_1_is_read_too(store: Engine, tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("email,first_name\nzoe@firma.at,Zoë\n".encode("latin-1"))
    assert LeadImporter(store, NOW, encoding="latin-1").run(path).created == 1
    assert stored(store)["zoe@firma.at"]["first_name"] == "Zoë"


def test_json_lines_list_values_are_kept_as_attributes(store: Engine, tmp_path: Path) -> None:
    path = tmp_path / "leads.jsonl"
    path.write_text(
        json.dumps(
            {
                "email": "anna@alpenblick.de",
                "interests": ["CRM", "Automation"],
                "attributes": {"tags": ["vip"]},
            }
        )
        + "\n"
        + json.dumps({"email": "ben@keller.ch", "interests": [{"nested": 1}]})
        + "\n",
        encoding="utf-8",
    )
    report = LeadImporter(store, NOW).run(path)
    assert (report.created, report.rejected) == (1, 1)
    assert "interests: a list may only hold text, numbers or true/false" in str(report.problems[0])
    attributes = stored(store)["anna@alpenblick.de"]["attributes"]
    assert attributes == {"interests": ["CRM", "Automation"], "tags": ["vip"]}


def test_addresses_with_non_ascii_local_parts_are_accepted(store: Engine, tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text(
        "email,first_name\nJürgen@Müller-Bau.de,Jürgen\nanna@intranet.local,Anna\n", encoding="utf-8"
    )
    report = LeadImporter(store, NOW).run(path)
    assert (report.created, report.rejected) == (1, 1)
    assert "special-use or reserved name" in str(report.problems[0])
    assert list(stored(store)) == ["jürgen@xn--mller-bau-q9a.de"]


def test_leads_import_json(cli, workspace: Path) -> None:  # type: ignore[no-untyped-def]
    (workspace / "leads.csv").write_text(
        "email,country\nanna@alpenblick.de,Deutschland\nkaputt,DE\nben@keller.ch,CH\n", encoding="utf-8"
    )
    result = cli("leads", "import", str(workspace / "leads.csv"), "--json", "--on-error", "skip-field")
    assert result.exit_code == 1  # a row was still rejected
    report = json.loads(result.stdout)
    assert {k: report[k] for k in ("rows", "created", "rejected", "fields_skipped")} == {
        "rows": 3, "created": 2, "rejected": 1, "fields_skipped": 1,
    }  # fmt: skip
    assert [p["row"] for p in report["problems"]] == [2, 3]
