"""What follows an import batch, in its transaction: kept events join their new leads, fit is
scored, and leads the MQL rule now holds for go to sales at once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from nurture.definitions import Program
from nurture.leads.report import BatchHook
from nurture.settings import Settings


def after_import_batch(program: Program | None, settings: Settings | None) -> BatchHook:
    def hook(conn: Connection, created: Sequence[int], changed: Sequence[int], now: datetime) -> None:
        from nurture.engagement.record import join_anonymous_events
        from nurture.scoring.leads import on_leads_changed

        if created:
            join_anonymous_events(conn, program, created, now)
        touched = sorted({*created, *changed})
        if touched:
            on_leads_changed(conn, program, touched, now, settings=settings)

    return hook
