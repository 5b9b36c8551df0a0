"""What follows history brought from another tool: points, and nothing else.

History is a record, not a replay. Past engagement earns the behaviour points it earned then (at
its own time, so the ledger says what a lead's score was on any past day and the score backtest
has ground truth), and fit is computed for the leads it names; but the MQL rule, routing, the
rep's notice, webhooks and campaign exits are not run for the past: a lead that was an MQL a year
ago is not handed to a rep today, and no email is queued.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from nurture.definitions import Program
from nurture.facts import RecordedEvent
from nurture.scoring.events import on_events_recorded
from nurture.scoring.leads import on_leads_changed


class PastFacts:
    """A :class:`nurture.facts.WhatFollows` for history: points only, no chain."""

    def __init__(self, program: Program, default_zone: ZoneInfo) -> None:
        self._program = program
        self._zone = default_zone

    @property
    def program(self) -> Program:
        return self._program

    def events_recorded(self, conn: Connection, events: Sequence[RecordedEvent], now: datetime) -> None:
        on_events_recorded(conn, self._program, events, now, default_zone=self._zone)

    def leads_changed(self, conn: Connection, lead_ids: Sequence[int], now: datetime) -> None:
        on_leads_changed(conn, self._program, lead_ids, now)

    def leads_imported(
        self, conn: Connection, created: Sequence[int], changed: Sequence[int], now: datetime
    ) -> None:
        self.leads_changed(conn, sorted({*created, *changed}), now)

    def stage_changed(self, conn: Connection, lead_ids: Sequence[int], now: datetime) -> None:
        """Past stage moves end nothing: the campaigns of then are not the campaigns of now."""
