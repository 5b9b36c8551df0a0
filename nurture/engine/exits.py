"""Ending the campaigns a lead leaves the moment its stage changes.

A campaign's ``exit_when`` is checked before each of its steps anyway; checking it the moment a
lead's stage changes means a lead that just became an MQL (or a customer) gets no further nurture
email even when its next step is due within the same minute.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, select

from nurture.definitions import ConditionError, EvaluationContext, Program
from nurture.engine.engagement import BatchEngagement
from nurture.engine.enrollments import DueEnrollment, load_leads, record_outcomes
from nurture.engine.plan import Finish
from nurture.store.schema import enrollments

log = logging.getLogger(__name__)


def end_exited_enrollments(conn: Connection, program: Program, lead_ids: Sequence[int], now: datetime) -> int:
    """End the active enrollments of these leads whose campaign's ``exit_when`` holds now.

    Enrollments a campaign worker holds at this moment are skipped, not waited for: that worker
    checks ``exit_when`` before its next step, and waiting could deadlock with it.
    """
    e = enrollments.c
    query = (
        select(e.id, e.lead_id, e.campaign_key, e.campaign_version, e.step_id, e.step_started_at, e.due_at)
        .where(e.lead_id.in_(sorted(set(lead_ids))), e.status == "active")
        .order_by(e.id)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    active = [DueEnrollment(*row) for row in conn.execute(query)]
    campaigns = program.campaigns
    active = [a for a in active if a.campaign_key in campaigns and campaigns[a.campaign_key].exit_when]
    if not active:
        return 0
    lead_rows = load_leads(conn, (a.lead_id for a in active))
    engagement = BatchEngagement(conn, [a.id for a in active])
    ended: list[tuple[DueEnrollment, Finish]] = []
    for enrollment in active:
        campaign = campaigns[enrollment.campaign_key]
        context = EvaluationContext(
            lead=lead_rows[enrollment.lead_id],
            now=now,
            engagement=engagement.for_enrollment(enrollment.id, campaign),
        )
        for condition in campaign.exit_when:
            try:
                if condition.evaluate(context):
                    ended.append((enrollment, Finish("exited", f"exit_when: {condition.source}")))
                    break
            except ConditionError as exc:
                # The campaign engine reports it for this enrollment on its next step.
                log.warning("exit_when not decided at stage change: %s", exc)
                break
    record_outcomes(conn, ended, now, {})
    return len(ended)
