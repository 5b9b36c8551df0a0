"""Events a marketer puts on the simulated timeline: ``nurture simulate --events FILE``.

The file is JSON Lines in the format of ``nurture events import`` (``type``, ``email`` and any
properties), with one difference: ``occurred_at`` may be relative to the simulation's start,
``"+2d"`` or ``"+90m"``, as well as an absolute ISO-8601 moment. So a webinar registration two
days in, or a pricing-page visit, drives event-entered campaigns, scoring, MQLs and handoffs in
the simulation the way it would live.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from nurture.clock import parse_instant
from nurture.durations import parse_duration
from nurture.errors import NurtureError
from nurture.json_depth import TOO_DEEP, may_nest_too_deeply, nests_too_deeply


@dataclass(frozen=True)
class PlannedEvent:
    """An event and the simulated moment it happens."""

    at: datetime
    event: dict[str, Any]


def read_planned_events(path: Path, start: datetime) -> list[PlannedEvent]:
    """Every event of ``path``, timed against ``start``; a :class:`NurtureError` names each bad line."""
    planned: list[PlannedEvent] = []
    problems: list[str] = []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise NurtureError(f"{path}: cannot read the events file: {exc}") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            planned.append(_planned(line, start))
        except ValueError as exc:
            problems.append(f"{path}: line {number}: {exc}")
    if problems:
        raise NurtureError("\n".join(problems[:20]))
    return sorted(planned, key=lambda p: p.at)


def _planned(line: str, start: datetime) -> PlannedEvent:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise ValueError(TOO_DEEP) from None
    if may_nest_too_deeply(line) and nests_too_deeply(item):
        raise ValueError(TOO_DEEP)
    if not isinstance(item, dict):
        raise ValueError('an event is a JSON object such as {"type": "page_view", "email": "..."}')
    for required in ("type", "email"):
        if not isinstance(item.get(required), str) or not item[required]:
            raise ValueError(f"{required}: missing")
    when = item.get("occurred_at", "+0s")
    if not isinstance(when, str):
        raise ValueError("occurred_at: write an ISO-8601 moment or a time after the start such as '+2d'")
    at = _moment(when.strip(), start)
    return PlannedEvent(at, {**item, "occurred_at": at.isoformat()})


def _moment(when: str, start: datetime) -> datetime:
    if when.startswith("+"):
        try:
            return start + parse_duration(when[1:])
        except ValueError as exc:
            raise ValueError(f"occurred_at: {exc}") from None
    try:
        return parse_instant(when)
    except NurtureError as exc:
        raise ValueError(f"occurred_at: {exc} (or a time after the start such as '+2d')") from None
