"""The events file of `nurture simulate --events`: deeply nested lines are bad lines, not a crash."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from nurture.errors import NurtureError
from nurture.simulation_events import read_planned_events

START = datetime(2026, 3, 2, 9, tzinfo=UTC)


@pytest.mark.parametrize("depth", [33, 5_000])
def test_json_nested_too_deeply_is_named_on_its_line(tmp_path: Path, depth: int) -> None:
    good = '{"type": "page_view", "email": "ada@alpenblick.de", "occurred_at": "+1d"}'
    deep = '{"type": "page_view", "email": "ada@alpenblick.de", "x": ' + "[" * depth + "]" * depth + "}"
    path = tmp_path / "events.jsonl"
    path.write_text(f"{good}\n{deep}\n", encoding="utf-8")
    with pytest.raises(NurtureError) as failure:
        read_planned_events(path, START)
    assert "line 2: JSON nested deeper than 32 levels" in str(failure.value)


def test_nesting_within_the_limit_is_read(tmp_path: Path) -> None:
    line = '{"type": "page_view", "email": "ada@alpenblick.de", "occurred_at": "+1d", "x": [[["ok"]]]}'
    path = tmp_path / "events.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    [planned] = read_planned_events(path, START)
    assert planned.event["x"] == [[["ok"]]]
