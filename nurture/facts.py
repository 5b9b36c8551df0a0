"""Plain facts about a change to a lead, and the one interface that hears them.

Whoever changes a lead (the events recorder, the lead importer, a campaign's ``set`` or ``score``
step, a sales answer) states what happened here and hands it to :class:`WhatFollows`, inside its
own transaction. What follows (points, the MQL rule, routing, the rep's notice, the webhook, the end
of nurture campaigns) lives in :mod:`nurture.lifecycle`, above every one of those callers: they
receive the chain from the process that built it and never import it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from sqlalchemy import Connection

from nurture.definitions import Program


class RecordedEvent(NamedTuple):
    """An engagement event of a known lead, just stored (a tuple: batches hold thousands)."""

    id: int
    lead_id: int
    type: str
    occurred_at: datetime
    properties: Mapping[str, Any]
    url: str | None
    machine_reason: str | None
    campaign_key: str | None
    step_id: str | None


class WhatFollows(Protocol):
    """What follows a change to a lead, for one program; every call runs in the caller's transaction."""

    @property
    def program(self) -> Program:
        """The program whose scoring model, SLA and campaigns decide what follows."""
        ...

    def events_recorded(self, conn: Connection, events: Sequence[RecordedEvent], now: datetime) -> None:
        """Engagement events of known leads were stored."""
        ...

    def leads_changed(self, conn: Connection, lead_ids: Sequence[int], now: datetime) -> None:
        """Fields of these leads changed (an import, a ``set`` step) or points were added."""
        ...

    def leads_imported(
        self, conn: Connection, created: Sequence[int], changed: Sequence[int], now: datetime
    ) -> None:
        """A batch of the lead importer was written: ``created`` are new, ``changed`` were updated."""
        ...

    def stage_changed(self, conn: Connection, lead_ids: Sequence[int], now: datetime) -> None:
        """These leads moved to another lifecycle stage (a sales answer, a conversion)."""
        ...
