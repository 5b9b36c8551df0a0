"""The CSV fast path says exactly what validate_record says: the same lead, or the same complaint."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nurture.leads.csv_rows import MAX_REMEMBERED, row_checker
from nurture.leads.staged import FIELD_NAMES, FIRST_FIELD, StagedLead, staged
from nurture.leads.validate import RowInvalid, validate_record

GOOD_EMAILS = ["anna@firma.de", "Ben.Keller@Hanse.DE", "o'brien@firma.at"]
EMAILS = [
    "anna@firma.de",
    " Juergen.Mueller@Rheinwerk.DE ",
    "info@müller-bau.de",  # an internationalised domain: punycode, by the reference
    "jürgen@firma.de",
    "not-an-email",
    "a@b",
    "",
    "   ",
    "x" * 65 + "@firma.de",
    "a" * 60 + "@" + "b" * 190 + ".de",
    "an..na@firma.de",
    "\u212aelvin@firma.de",  # KELVIN SIGN lower-cases to ASCII k
    "anna@firma.de\n",
    "o'brien@firma.at",
]
TEXT = [
    "",
    " ",
    "Anna",
    "  Zoë ",
    "Müller & Söhne GmbH",
    "x" * 200,
    "x" * 201,
    "x" * 300,
    "x" * 301,
    "zwei\nZeilen",
    "nul\0",
    "cr\r",
    "tab\there",
    "bad \udcfc byte",  # an undecodable byte, as surrogateescape keeps it
    '"quoted" \\ back',
    "ü" * 1100,
    "ü" * 2100,  # over the attribute limit in bytes, not in characters
    "x" * 4097,
    "€" * 1400,  # three bytes each
    "😀" * 1025,  # four bytes each: just over the limit with just over a quarter of it in characters
]
VALUES = {
    "company_size": ["", "250", " 1.000 ", "1,5", "0", "many", "-3", "20000000", "١٢", "12_000"],
    "country": ["", "de", "DE", " ch ", "UK", "XX", "Deutschland"],
    "timezone": ["", "Europe/Berlin", " Europe/Zurich ", "Mars/Olympus", "/etc/passwd", "europe/berlin"],
    "locale": ["", "de-DE", "de_CH", "d", "de-DE-x-1234567890"],
    "lifecycle_stage": ["", "lead", "MQL", " customer ", "boss"],
}
STANDARD = ["first_name", "last_name", "company", "job_title", "industry", *VALUES]
CUSTOM = ["webinar", "Quelle", 'Ünïcode "name"', "attributes"]


def _verdict(check: Any, row: int, cells: list[str]) -> StagedLead | str:
    try:
        return check(row, cells)  # type: ignore[no-any-return]
    except RowInvalid as exc:
        return f"RowInvalid: {exc}"


def _reference(columns: list[str], row: int, cells: list[str]) -> StagedLead | str:
    try:
        return staged(row, validate_record(dict(zip(columns, cells, strict=True))))
    except RowInvalid as exc:
        return f"RowInvalid: {exc}"


@st.composite
def files(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    names = draw(st.lists(st.sampled_from(STANDARD + CUSTOM), unique=True, max_size=8))
    columns = draw(st.permutations(["email", *names]))
    rows = []
    for _ in range(draw(st.integers(1, 4))):
        cells = []
        for name in columns:
            if name == "email":  # mostly good: a bad address sends the whole row to the reference
                cells.append(draw(st.sampled_from(GOOD_EMAILS) | st.sampled_from(EMAILS)))
            elif name in VALUES:
                cells.append(draw(st.sampled_from(VALUES[name][:3]) | st.sampled_from(VALUES[name])))
            else:
                cells.append(draw(st.sampled_from(TEXT) | st.text(max_size=12)))
        rows.append(cells)
    return columns, rows


@settings(max_examples=500, deadline=None)
@given(files())
def test_the_fast_path_agrees_with_the_reference(file: tuple[list[str], list[list[str]]]) -> None:
    columns, rows = file
    check = row_checker(columns)
    for row, cells in enumerate(rows, start=2):
        assert _verdict(check, row, cells) == _reference(columns, row, cells)


@pytest.mark.parametrize("column", [*STANDARD, *CUSTOM])
@pytest.mark.parametrize("value", TEXT)
def test_every_kind_of_cell_gets_the_reference_verdict(column: str, value: str) -> None:
    columns = ["email", "first_name", column] if column != "first_name" else ["email", column]
    cells = ["anna@firma.de", "Anna", value][: len(columns)]
    cells[-1] = value
    assert _verdict(row_checker(columns), 2, cells) == _reference(columns, 2, cells)


@pytest.mark.parametrize("name", ["_intern", ""])
def test_an_unusable_attribute_column_is_refused_as_the_reference_refuses_it(name: str) -> None:
    columns = ["email", name]
    check = row_checker(columns)
    assert _verdict(check, 2, ["a@firma.de", "x"]) == _reference(columns, 2, ["a@firma.de", "x"])
    assert _verdict(check, 3, ["a@firma.de", ""]) == _reference(columns, 3, ["a@firma.de", ""])


def test_values_past_the_remembered_ones_are_still_parsed() -> None:
    check = row_checker(["email", "company_size"])
    at = FIRST_FIELD + FIELD_NAMES.index("company_size")
    for size in range(MAX_REMEMBERED + 100):
        assert check(size, [f"p{size}@firma.de", f"{size:_}"])[at] == size


cell_text = st.text(alphabet='ab ,;"\n\t\'ü', max_size=12)  # no lone CR: the writer leaves it unquoted


@settings(max_examples=60, deadline=None)
@given(
    before=st.lists(st.lists(cell_text, min_size=3, max_size=3), max_size=4),
    after=st.lists(st.lists(cell_text, min_size=3, max_size=3), max_size=4),
    inside=st.lists(st.lists(cell_text, min_size=3, max_size=3), min_size=1, max_size=4),
    delimiter=st.sampled_from([",", ";", "\t"]),
    quoted_at=st.integers(0, 2),
)
def test_a_row_with_an_oversized_cell_is_skipped_whole_whatever_it_holds(
    tmp_path_factory: pytest.TempPathFactory,
    before: list[list[str]],
    after: list[list[str]],
    inside: list[list[str]],
    delimiter: str,
    quoted_at: int,
) -> None:
    import csv
    import io

    from nurture.leads import sources

    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(["email", "first_name", "notes"])
    writer.writerows(before)
    # The oversized cell holds whole rows of the file's own dialect: none of them may come out.
    body = io.StringIO()
    csv.writer(body, delimiter=delimiter, lineterminator="\n").writerows(inside)
    bad = ["x@y.de", "Bad", "big"]
    bad[quoted_at] = "z" * 200 + "\n" + body.getvalue() + "z" * 200
    writer.writerow(bad)
    writer.writerows(after)
    path = tmp_path_factory.mktemp("csv") / "leads.csv"
    path.write_bytes(buffer.getvalue().encode("utf-8"))
    counter, _ = sources.open_counted(path)
    with counter, pytest.MonkeyPatch.context() as patch:
        patch.setattr(sources, "MAX_FIELD_BYTES", 300)  # a small limit: the same code, small files
        _, records = sources.read_csv(path, counter)
        got = [(row, cells) for row, cells, _ in records]
    assert [cells for _, cells in got if cells is not None] == before + after
    assert [row for row, cells in got if cells is None] == [len(before) + 2]
    assert [row for row, _ in got] == list(range(2, len(before) + len(after) + 3))
