"""Handing freshly stored events to scoring, in the same transaction.

Scoring (behaviour points, the ledger, the MQL rule and routing) lives in
``nurture.scoring.events``; it is looked up once, so a build without it still records events.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Connection

if TYPE_CHECKING:
    from nurture.definitions import Program

SCORING_MODULE = "nurture.scoring.events"


class ScorableEvent(NamedTuple):
    """An event of a known lead, just stored: what scoring is told about it (in the field order
    of ``nurture.scoring.events.StoredEvent``)."""

    id: int
    lead_id: int
    type: str
    occurred_at: datetime
    properties: dict[str, Any]
    url: str | None
    machine_reason: str | None
    campaign_key: str | None
    step_id: str | None


@dataclass(frozen=True)
class _Scoring:
    stored_event: Callable[..., Any]
    on_events_recorded: Callable[[Connection, Any, Sequence[Any], datetime], None]
    # StoredEvent is a named tuple of the same fields: events are handed over as they are.
    same_shape: bool = False


@cache
def _scoring() -> _Scoring | None:
    try:
        found = importlib.util.find_spec(SCORING_MODULE)
    except ModuleNotFoundError:
        found = None
    if found is None:
        return None
    # Present: import it for real, so a mistake inside it is not mistaken for its absence.
    module = importlib.import_module(SCORING_MODULE)
    same_shape = getattr(module.StoredEvent, "_fields", None) == ScorableEvent._fields
    return _Scoring(module.StoredEvent, module.on_events_recorded, same_shape)


def scoring_available() -> bool:
    """Whether this build scores events as they are recorded."""
    return _scoring() is not None


def score_events(
    conn: Connection, program: Program | None, events: Sequence[ScorableEvent], now: datetime
) -> None:
    """Tell scoring about these events (no-op when none, or when scoring is not part of the build)."""
    if not events:
        return
    scoring = _scoring()
    if scoring is None:
        return
    if scoring.same_shape:
        stored: Sequence[Any] = events
    else:
        make = scoring.stored_event
        stored = [make(*event) for event in events]
    scoring.on_events_recorded(conn, program, stored, now)
