"""The report's JSON text is json.dumps(ensure_ascii=False, indent=2) of the same data, byte for byte."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nurture.reports.json_text import indented_json, write_indented_json

_SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text()
)
_KEYS = st.text() | st.integers() | st.floats(allow_nan=False) | st.booleans() | st.none()
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4) | st.tuples(inner, inner)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(_VALUES)
def test_any_plain_value_is_written_as_json_dumps_writes_it(value: Any) -> None:
    assert indented_json(value) == json.dumps(value, ensure_ascii=False, indent=2)


def test_a_report_shaped_value_with_escapes_and_empty_containers() -> None:
    value = {
        "period": {"since": None, "leads": 3, "rate": 0.1 + 0.2},
        "stuck": {"limits_days": {}, "leads": [{"email": 'zoë@exämple.com\n"', "days": 1e-7, "owner": None}]},
        "rows": [[], {}, [1, [2.5, True]], (False,)],
    }
    assert indented_json(value) == json.dumps(value, ensure_ascii=False, indent=2)


def test_what_json_dumps_refuses_it_refuses_the_same_way() -> None:
    with pytest.raises(TypeError):
        indented_json({"at": object()})


def test_the_text_written_in_pieces_is_the_whole_text() -> None:
    value = {
        "stuck": [{"email": f"lead{i}@example.com", "days": i / 7, "owner": None} for i in range(40_000)]
    }
    pieces: list[str] = []
    write_indented_json(value, pieces.append)
    assert "".join(pieces) == json.dumps(value, ensure_ascii=False, indent=2)
    assert len(pieces) > 1  # handed over as it was made, not held whole


_RECORD_KEYS = st.lists(st.text(alphabet='ab{}"\\é\n', max_size=3), min_size=1, max_size=4, unique=True)


@st.composite
def _records(draw: st.DrawFn) -> list[Any]:
    """Lists of records with the same keys, column by column of one type or of many (the stuck
    leads' shape), now and then a record with a list, an object or other keys among them."""
    keys = draw(_RECORD_KEYS)
    kinds = [
        st.text(), st.floats(allow_nan=True, allow_infinity=True),
        st.floats(allow_nan=False, allow_infinity=False),
        st.integers(), st.booleans(), _SCALARS,
    ]  # fmt: skip
    columns = {key: draw(st.sampled_from(kinds)) for key in keys}
    records: list[Any] = draw(st.lists(st.fixed_dictionaries(columns), min_size=1, max_size=25))
    if draw(st.booleans()):
        records.insert(draw(st.integers(0, len(records))), draw(_VALUES))
    return records


@settings(max_examples=300, deadline=None)
@given(_records())
def test_lists_of_records_are_written_as_json_dumps_writes_them(records: list[Any]) -> None:
    assert indented_json(records) == json.dumps(records, ensure_ascii=False, indent=2)
    assert indented_json({"leads": records}) == json.dumps({"leads": records}, ensure_ascii=False, indent=2)


def test_records_over_many_batches_are_written_as_json_dumps_writes_them() -> None:
    records: list[Any] = [
        {"email": f"lead{i}@example.com", "owner": None if i % 3 else "anna", "days": i / 7, "n": i}
        for i in range(25_003)
    ]
    records[20_017] = {"email": "x", "owner": ["nested"], "days": 1.0, "n": 0}  # the long way, then on
    assert indented_json(records) == json.dumps(records, ensure_ascii=False, indent=2)
