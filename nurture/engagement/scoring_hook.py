"""Handing freshly stored events to what follows them (scoring, the MQL rule, routing), in the same
transaction.

The recorder is given that chain (:class:`nurture.facts.WhatFollows`) by its caller; without one,
events are only stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from nurture.facts import RecordedEvent

if TYPE_CHECKING:
    from nurture.facts import WhatFollows

ScorableEvent = RecordedEvent
"""An event of a known lead, just stored: what the chain is told about it."""


def score_events(
    conn: Connection, then: WhatFollows | None, events: Sequence[ScorableEvent], now: datetime
) -> None:
    """Tell what follows about these events (no-op when there are none, or nothing follows)."""
    if events and then is not None:
        then.events_recorded(conn, events, now)
