"""The figures a newcomer sees at the end of ``nurture demo`` (and a small start for reports)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from nurture.store.schema import events, handoffs, messages, stage_changes


@dataclass
class ProgramFigures:
    emails_per_step: Counter[tuple[str, str]] = field(default_factory=Counter)
    engagement: Counter[tuple[str, bool]] = field(default_factory=Counter)  # (type, machine)
    stages_reached: Counter[str] = field(default_factory=Counter)
    routed_to: Counter[str] = field(default_factory=Counter)
    handoffs_by_status: Counter[str] = field(default_factory=Counter)
    sales_notifications: int = 0


def program_figures(db: Engine) -> ProgramFigures:
    figures = ProgramFigures()
    m, e, h, s = messages.c, events.c, handoffs.c, stage_changes.c
    with db.connect() as conn:
        for campaign, step, count in conn.execute(
            select(m.campaign_key, m.step_id, func.count())
            .where(m.kind == "marketing", m.status == "sent")
            .group_by(m.campaign_key, m.step_id)
        ):
            figures.emails_per_step[(campaign, step)] = count
        figures.sales_notifications = int(
            conn.scalar(select(func.count()).select_from(messages).where(m.kind != "marketing")) or 0
        )
        for type_, machine, count in conn.execute(
            select(e.type, e.machine_reason.is_not(None), func.count()).group_by(
                e.type, e.machine_reason.is_not(None)
            )
        ):
            figures.engagement[(type_, bool(machine))] = count
        for stage, count in conn.execute(
            select(s.to_stage, func.count(func.distinct(s.lead_id))).group_by(s.to_stage)
        ):
            figures.stages_reached[stage] = count
        for rep, count in conn.execute(select(h.rep_id, func.count()).group_by(h.rep_id)):
            figures.routed_to[rep or "(manager)"] = count
        for status, count in conn.execute(select(h.status, func.count()).group_by(h.status)):
            figures.handoffs_by_status[status] = count
    return figures
