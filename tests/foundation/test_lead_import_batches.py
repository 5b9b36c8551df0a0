"""Imports across batches: repeats found whatever batch they are in, known leads merged, the hook
told exactly what changed, and a failed batch leaves the ones before it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, insert, select
from sqlalchemy.engine import Engine

from nurture.leads.addresses import suppression_hash
from nurture.leads.forget import forget_lead
from nurture.leads.importer import LeadImporter
from nurture.store.schema import leads, stage_changes, suppressions

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LATER = datetime(2026, 3, 5, 9, 0, tzinfo=UTC)
HEADER = "email,first_name,lifecycle_stage\n"


def csv(tmp_path: Path, name: str, *rows: str) -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(f"{row}\n" for row in rows), encoding="utf-8")
    return path


def stored(store: Engine) -> dict[str, Any]:
    with store.connect() as conn:
        return {row.email: row for row in conn.execute(select(leads).order_by(leads.c.id))}


def problems(report: Any) -> list[tuple[int, str]]:
    return [(p.row, p.message) for p in report.problems]


def test_a_known_lead_repeated_in_a_later_batch_is_reported(store: Engine, tmp_path: Path) -> None:
    LeadImporter(store, NOW).run(csv(tmp_path, "old.csv", "alt@firma.de,Alt,"))
    rows = ["alt@firma.de,Neu,", *(f"n{i}@firma.de,N{i}," for i in range(12)), "alt@firma.de,Nochmal,"]
    report = LeadImporter(store, LATER, batch_size=5).run(csv(tmp_path, "new.csv", *rows))
    assert (report.created, report.updated, report.unchanged, report.rejected) == (12, 1, 0, 1)
    assert problems(report) == [(15, "email: alt@firma.de already appears in row 2; row skipped")]
    assert stored(store)["alt@firma.de"].first_name == "Neu"


def test_a_batch_of_new_and_known_leads_remembers_every_first_row(
    store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("nurture.leads.write_sqlite.MET_SLICE", 2)  # known leads merged in slices
    LeadImporter(store, NOW).run(csv(tmp_path, "old.csv", "k@firma.de,K,", "u@firma.de,U,"))
    rows = [
        "n1@firma.de,N1,",  # row 2
        "k@firma.de,Kay,sql",  # row 3: changed, and its stage moves
        "n2@firma.de,N2,",  # row 4
        "u@firma.de,U,",  # row 5: unchanged
        "n2@firma.de,Again,",  # row 6: next batch
        "k@firma.de,Again,",  # row 7
        "u@firma.de,Again,",  # row 8
        "n3@firma.de,N3,",  # row 9
    ]
    report = LeadImporter(store, LATER, batch_size=4).run(csv(tmp_path, "mixed.csv", *rows))
    assert (report.created, report.updated, report.unchanged, report.rejected) == (3, 1, 1, 3)
    assert [row for row, _ in problems(report)] == [6, 7, 8]
    assert ["row 4" in m for _, m in problems(report)] == [True, False, False]
    assert ["row 3" in m for _, m in problems(report)] == [False, True, False]
    assert ["row 5" in m for _, m in problems(report)] == [False, False, True]
    leads_now = stored(store)
    assert list(leads_now) == ["k@firma.de", "u@firma.de", "n1@firma.de", "n2@firma.de", "n3@firma.de"]
    assert (leads_now["k@firma.de"].first_name, leads_now["k@firma.de"].lifecycle_stage) == ("Kay", "sql")
    assert leads_now["n2@firma.de"].first_name == "N2"
    with store.connect() as conn:
        moves = conn.execute(
            select(stage_changes.c.lead_id, stage_changes.c.from_stage, stage_changes.c.to_stage).order_by(
                stage_changes.c.id
            )
        ).all()
    ids = {email: row.id for email, row in leads_now.items()}
    assert sorted(map(tuple, moves), key=str) == sorted(
        [
            (ids["k@firma.de"], None, "lead"),
            (ids["u@firma.de"], None, "lead"),
            (ids["k@firma.de"], "lead", "sql"),
            (ids["n1@firma.de"], None, "lead"),
            (ids["n2@firma.de"], None, "lead"),
            (ids["n3@firma.de"], None, "lead"),
        ],
        key=str,
    )


def test_a_row_rejected_for_a_bad_value_does_not_count_as_the_first(store: Engine, tmp_path: Path) -> None:
    report = LeadImporter(store, NOW).run(
        csv(tmp_path, "leads.csv", "a@firma.de,A,boss", "a@firma.de,A,lead")
    )
    assert (report.created, [row for row, _ in problems(report)]) == (1, [2])


def test_the_report_keeps_the_problems_of_the_first_rows(
    store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("nurture.leads.report.KEPT_PROBLEMS", 3)
    rows = [
        "a@firma.de,A,",
        "b@firma.de,B,",
        "kaputt,K,",
        "a@firma.de,A,",
        "x@firma.de,X,boss",
        "b@firma.de,B,",
    ]
    report = LeadImporter(store, NOW, batch_size=2).run(
        csv(tmp_path, "leads.csv", "z@firma.de,Z,", *rows * 2)
    )
    assert report.rejected == 4 + 6
    assert [row for row, _ in problems(report)] == [5, 6, 7]


def test_new_leads_get_ids_in_file_order(store: Engine, tmp_path: Path) -> None:
    rows = [f"z{25 - i}@firma.de,P{i}," for i in range(25)]
    LeadImporter(store, NOW, batch_size=10).run(csv(tmp_path, "leads.csv", *rows))
    assert [row.first_name for row in stored(store).values()] == [f"P{i}" for i in range(25)]


def test_new_ids_are_found_after_the_newest_lead_was_erased(store: Engine, tmp_path: Path) -> None:
    LeadImporter(store, NOW).run(csv(tmp_path, "old.csv", "a@firma.de,A,", "b@firma.de,B,"))
    with store.begin() as conn:
        forget_lead(conn, "b@firma.de", NOW)
    report = LeadImporter(store, LATER).run(
        csv(tmp_path, "new.csv", "c@firma.de,C,", "d@firma.de,D,", "c@firma.de,Again,")
    )
    assert (report.created, report.suppressed, problems(report)) == (
        2,
        0,
        [(4, "email: c@firma.de already appears in row 2; row skipped")],
    )
    with store.connect() as conn:
        history = conn.execute(select(stage_changes.c.lead_id)).scalars().all()
    assert sorted(history) == sorted(row.id for row in stored(store).values())


def test_the_batch_hook_hears_of_created_and_changed_leads(store: Engine, tmp_path: Path) -> None:
    LeadImporter(store, NOW).run(csv(tmp_path, "old.csv", "a@firma.de,A,", "b@firma.de,B,"))
    heard: list[tuple[list[int], list[int]]] = []

    def hook(conn: Connection, created: Sequence[int], changed: Sequence[int], at: datetime) -> None:
        assert at == LATER
        heard.append((list(created), list(changed)))

    rows = ["a@firma.de,A,", "b@firma.de,Bea,", "c@firma.de,C,"]
    LeadImporter(store, LATER, on_batch=hook).run(csv(tmp_path, "new.csv", *rows))
    ids = {email: row.id for email, row in stored(store).items()}
    assert heard == [([ids["c@firma.de"]], [ids["b@firma.de"]])]


def test_suppressed_addresses_are_counted(store: Engine, tmp_path: Path) -> None:
    with store.begin() as conn:
        conn.execute(
            insert(suppressions).values(
                email_hash=suppression_hash("weg@firma.de"), reason="forgotten", created_at=NOW
            )
        )
    report = LeadImporter(store, NOW).run(csv(tmp_path, "leads.csv", "weg@firma.de,W,", "da@firma.de,D,"))
    assert (report.created, report.suppressed) == (2, 1)


def test_a_failing_batch_keeps_the_batches_before_it(store: Engine, tmp_path: Path) -> None:
    def hook(conn: Connection, created: Sequence[int], changed: Sequence[int], at: datetime) -> None:
        if len(stored_ids(conn)) > 3:
            raise RuntimeError("scoring is down")

    rows = [f"p{i}@firma.de,P{i}," for i in range(7)]
    with pytest.raises(RuntimeError, match="scoring is down"):
        LeadImporter(store, NOW, batch_size=3, on_batch=hook).run(csv(tmp_path, "leads.csv", *rows))
    assert list(stored(store)) == ["p0@firma.de", "p1@firma.de", "p2@firma.de"]
    # The connection went back to the pool in order: the next import runs and finds the repeats.
    report = LeadImporter(store, NOW, batch_size=3).run(csv(tmp_path, "leads.csv", *rows, "p5@firma.de,X,"))
    assert (report.created, report.unchanged, [row for row, _ in problems(report)]) == (4, 3, [9])


def stored_ids(conn: Connection) -> list[int]:
    return [int(i) for i in conn.scalars(select(leads.c.id))]
