"""Lead import: good rows in, bad rows named by row number, re-import changes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from nurture.leads.importer import LeadImporter
from nurture.leads.sources import ImportFileError
from nurture.store.schema import leads, stage_changes

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HEADER = "email,first_name,last_name,company,job_title,company_size,country,timezone,lifecycle_stage\n"


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def count(store: Engine, table=leads) -> int:  # type: ignore[no-untyped-def]
    with store.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table)) or 0)


def lead(store: Engine, email: str):  # type: ignore[no-untyped-def]
    with store.connect() as conn:
        return conn.execute(select(leads).where(leads.c.email == email)).one()


def test_good_rows_are_stored_with_normalised_email_and_custom_attributes(
    store: Engine, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "leads.csv",
        "Email,First Name,company,company_size,country,timezone,webinar\n"
        " Juergen.Mueller@Rheinwerk.DE ,Jürgen,Rheinwerk GmbH,250,de,Europe/Berlin,ki-2026\n",
    )
    report = LeadImporter(store, NOW).run(path)
    assert (report.rows, report.created, report.rejected) == (1, 1, 0)
    row = lead(store, "juergen.mueller@rheinwerk.de")
    assert row.first_name == "Jürgen"
    assert row.company_size == 250
    assert row.country == "DE"
    assert row.email_domain == "rheinwerk.de"
    assert row.attributes == {"webinar": "ki-2026"}
    assert row.lifecycle_stage == "lead"
    assert row.created_at == NOW


def test_every_bad_row_is_named_and_the_good_rows_still_arrive(store: Engine, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "mixed.csv",
        HEADER
        + "anna@alpenblick.ch,Anna,Schmid,Alpenblick AG,CTO,120,CH,Europe/Zurich,lead\n"  # row 2: good
        + "not-an-email,Bob,,,,,,,\n"  # row 3
        + "anna@alpenblick.ch,Anna,Again,,,,,,\n"  # row 4: duplicate of row 2
        + "ben@hanse.de,Ben,,Hanse,,many,DE,,\n"  # row 5
        + "cara@donau.at,Cara,,,,,AT,Mars/Olympus,\n"  # row 6
        + "dora@spree.de,Dora,,,,10,DE,Europe/Berlin,customer\n"  # row 7: good
        + "eve@spree.de,Eve,,,,,XX,,\n"  # row 8
        + "fritz@spree.de,Fritz,,,,,,,boss\n",  # row 9
    )
    report = LeadImporter(store, NOW).run(path)
    messages = {p.row: p.message for p in report.problems}
    assert set(messages) == {3, 4, 5, 6, 8, 9}
    assert "email" in messages[3] and "not-an-email" in messages[3]
    assert "row 2" in messages[4]
    assert "company_size" in messages[5] and "many" in messages[5]
    assert "timezone" in messages[6] and "Mars/Olympus" in messages[6]
    assert "country" in messages[8]
    assert "lifecycle_stage" in messages[9]
    assert (report.created, report.rejected) == (2, 6)
    assert count(store) == 2
    assert lead(store, "dora@spree.de").lifecycle_stage == "customer"


def test_a_second_import_of_the_same_file_changes_nothing(store: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "leads.csv", HEADER + "a@x-firma.de,A,,X,,5,DE,,\nb@x-firma.de,B,,X,,,DE,,\n")
    LeadImporter(store, NOW).run(path)
    before = lead(store, "a@x-firma.de")
    later = datetime(2026, 3, 3, tzinfo=UTC)
    report = LeadImporter(store, later).run(path)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 2)
    assert lead(store, "a@x-firma.de") == before
    assert count(store, stage_changes) == 2


def test_reimport_updates_only_what_the_file_says_and_records_stage_moves(
    store: Engine, tmp_path: Path
) -> None:
    LeadImporter(store, NOW).run(
        write(tmp_path, "a.csv", HEADER + "a@x-firma.de,Anna,Alt,X GmbH,CEO,5,DE,,\n")
    )
    later = datetime(2026, 3, 5, tzinfo=UTC)
    report = LeadImporter(store, later).run(
        write(tmp_path, "b.csv", "email,last_name,lifecycle_stage,newsletter\na@x-firma.de,Neu,sql,ja\n")
    )
    assert report.updated == 1
    row = lead(store, "a@x-firma.de")
    assert (row.first_name, row.last_name, row.job_title) == ("Anna", "Neu", "CEO")  # blanks keep data
    assert row.lifecycle_stage == "sql"
    assert row.attributes == {"newsletter": "ja"}
    assert row.updated_at == later
    with store.connect() as conn:
        moves = conn.execute(select(stage_changes.c.from_stage, stage_changes.c.to_stage)).all()
    assert sorted(moves, key=str) == sorted([(None, "lead"), ("lead", "sql")], key=str)


def test_a_missing_email_column_stops_before_anything_is_written(store: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "nomail.csv", "name,company\nAnna,X\n")
    with pytest.raises(ImportFileError, match=r"row 1: the header has no 'email' column"):
        LeadImporter(store, NOW).run(path)
    assert count(store) == 0


def test_an_empty_file_is_explained(store: Engine, tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="empty"):
        LeadImporter(store, NOW).run(write(tmp_path, "empty.csv", ""))
    with pytest.raises(ImportFileError, match="empty"):
        LeadImporter(store, NOW).run(write(tmp_path, "empty.jsonl", "\n\n"))


def test_bytes_that_are_not_utf8_reject_only_their_row(store: Engine, tmp_path: Path) -> None:
    content = (
        (HEADER + "a@x-firma.de,Anna,,,,,,,\n").encode()
        + "b@x-firma.de,J\xfcrgen,,,,,,,\n".encode("latin-1")
        + b"c@x-firma.de,Carla,,,,,,,\n"
    )
    report = LeadImporter(store, NOW).run(write(tmp_path, "latin1.csv", content))
    assert [(p.row, "UTF-8" in p.message) for p in report.problems] == [(3, True)]
    assert count(store) == 2


def test_a_byte_order_mark_and_semicolons_are_understood(store: Engine, tmp_path: Path) -> None:
    content = "\ufeffemail;first_name;country\nzoe@firma.ch;Zoë;CH\n".encode()
    report = LeadImporter(store, NOW).run(write(tmp_path, "excel.csv", content))
    assert report.created == 1
    assert lead(store, "zoe@firma.ch").first_name == "Zoë"


def test_rows_with_the_wrong_number_of_fields_are_reported(store: Engine, tmp_path: Path) -> None:
    report = LeadImporter(store, NOW).run(
        write(tmp_path, "short.csv", "email,first_name\na@b.de\nc@d.de,C\n")
    )
    assert [p.row for p in report.problems] == [2]
    assert "1 fields" in report.problems[0].message


def test_json_lines_with_nested_attributes(store: Engine, tmp_path: Path) -> None:
    lines = [
        {"email": "lea@nordlicht.de", "first_name": "Lea", "company_size": 80, "attributes": {"plan": "pro"}},
        {"email": "max@nordlicht.de", "country": "DE", "trial": True},
        ["not", "an", "object"],
        "{broken",
    ]
    text = "\n".join(json.dumps(x) if not isinstance(x, str) else x for x in lines) + "\n"
    report = LeadImporter(store, NOW).run(write(tmp_path, "leads.jsonl", text))
    assert report.created == 2
    assert [p.row for p in report.problems] == [3, 4]
    assert lead(store, "lea@nordlicht.de").attributes == {"plan": "pro"}
    assert lead(store, "max@nordlicht.de").attributes == {"trial": True}


def test_dry_run_validates_and_counts_but_writes_nothing(store: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "leads.csv", HEADER + "a@x-firma.de,A,,,,,,,\nbad,B,,,,,,,\n")
    report = LeadImporter(store, NOW, dry_run=True).run(path)
    assert (report.created, report.rejected, report.dry_run) == (1, 1, True)
    assert count(store) == 0


def test_duplicates_are_found_across_batches(store: Engine, tmp_path: Path) -> None:
    rows = "".join(f"p{i}@firma.de,P{i},,,,,,,\n" for i in range(25)) + "p3@firma.de,Again,,,,,,,\n"
    report = LeadImporter(store, NOW, batch_size=10).run(write(tmp_path, "many.csv", HEADER + rows))
    assert report.created == 25
    assert [(p.row, "row 5" in p.message) for p in report.problems] == [(27, True)]


def test_a_deeply_nested_json_line_is_a_bad_row_not_a_crash(store: Engine, tmp_path: Path) -> None:
    lines = [
        json.dumps({"email": "lea@nordlicht.de"}),
        '{"email": "max@nordlicht.de", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"email": "ole@nordlicht.de", "x": ' + "{\"a\":" * 40 + "1" + "}" * 40 + "}",
        json.dumps({"email": "ida@nordlicht.de", "attributes": {"plan": "pro"}}),
    ]
    report = LeadImporter(store, NOW).run(write(tmp_path, "leads.jsonl", "\n".join(lines) + "\n"))
    assert report.created == 2
    assert [(p.row, p.message) for p in report.problems] == [
        (2, "is JSON nested deeper than 32 levels of objects and lists"),
        (3, "is JSON nested deeper than 32 levels of objects and lists"),
    ]


def _emails(store: Engine) -> list[str]:
    with store.connect() as conn:
        return sorted(conn.scalars(select(leads.c.email)))


def test_an_oversized_quoted_cell_is_one_bad_row_and_its_lines_never_become_leads(
    store: Engine, tmp_path: Path
) -> None:
    filler = "x" * 700_000
    # The cell spans lines that look like rows, holds doubled quotes, and is over the 1 MiB limit
    # only after several of them; a quote inside the unquoted cell before it is just a character.
    cell = f'"{filler}\nevil1@attacker.example,Evil\n""quoted"" evil2@attacker.example,Evil\n{filler}\nend"'
    text = (
        "email,first_name,notes\n"
        "anna@firma.de,Anna,Firma\n"
        f'ben@firma.de,Ben 5"11,{cell}\n'
        "carla@firma.de,Carla,Firma\n"
        'dora@firma.de,Dora,"Multi\nline, ""fine"""\n'
    )
    report = LeadImporter(store, NOW).run(write(tmp_path, "leads.csv", text))
    assert _emails(store) == ["anna@firma.de", "carla@firma.de", "dora@firma.de"]
    assert [(p.row, p.message) for p in report.problems] == [
        (3, "a cell is larger than 1 MiB (is a quote left open?)"),
    ]
    assert report.rows == 4 and report.created == 3
    assert lead(store, "dora@firma.de").attributes == {"notes": 'Multi\nline, "fine"'}


def test_a_quote_that_never_closes_stops_the_file_at_its_row(store: Engine, tmp_path: Path) -> None:
    text = (
        "email,first_name\n"
        "anna@firma.de,Anna\n"
        'ben@firma.de,"Ben\n' + ("evil@attacker.example,Evil\n" * 50_000) + "carla@firma.de,Carla\n"
    )
    report = LeadImporter(store, NOW).run(write(tmp_path, "leads.csv", text))
    assert _emails(store) == ["anna@firma.de"]
    (problem,) = report.problems
    assert problem.row == 3
    assert problem.message.startswith("a cell is larger than 1 MiB (is a quote left open?); the rest of")
