"""The figures behind ``nurture report``, computed from the recorded history.

The funnel counts distinct leads that reached each stage (from the stage history, so a lead that
went lead -> mql -> recycled -> mql counts once per stage). Engagement is counted apart for humans
and machines (privacy proxies, link scanners), because only the human figures say anything about
the email.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime
from statistics import median
from typing import Any

from sqlalchemy import Connection, and_, func, select

from nurture.store import bulk
from nurture.store.schema import enrollments, events, handoffs, messages, stage_changes

FUNNEL = ("lead", "mql", "sal", "sql", "opportunity", "customer")
SIDE_STAGES = ("recycled", "disqualified")


@dataclass
class FunnelStage:
    stage: str
    leads: int
    from_previous: float | None  # share of the previous stage's leads that reached this one


@dataclass
class StepFigures:
    campaign: str
    step: str
    sent: int = 0
    bounced: int = 0
    failed: int = 0
    opened: int = 0  # distinct messages opened by a person
    clicked: int = 0  # distinct messages clicked by a person
    machine_opens: int = 0
    machine_clicks: int = 0
    unsubscribed: int = 0

    @property
    def open_rate(self) -> float | None:
        return self.opened / self.sent if self.sent else None

    @property
    def click_rate(self) -> float | None:
        return self.clicked / self.sent if self.sent else None


@dataclass
class CampaignFigures:
    campaign: str
    entered: int = 0
    active: int = 0
    completed: int = 0
    exited: int = 0
    failed: int = 0
    steps: list[StepFigures] = field(default_factory=list)


@dataclass
class SlaFigures:
    handoffs: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_rep: dict[str, int] = field(default_factory=dict)
    accepted_in_time: int = 0
    accepted_late: int = 0
    breaches: int = 0  # handoffs that ran out of time and were reassigned or escalated
    median_hours_to_answer: float | None = None


@dataclass
class Report:
    since: datetime | None
    until: datetime | None
    funnel: list[FunnelStage]
    side_stages: dict[str, int]
    campaigns: list[CampaignFigures]
    sla: SlaFigures

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["since"] = self.since.isoformat() if self.since else None
        data["until"] = self.until.isoformat() if self.until else None
        for campaign, figures in zip(data["campaigns"], self.campaigns, strict=True):
            for step, step_figures in zip(campaign["steps"], figures.steps, strict=True):
                step["open_rate"] = step_figures.open_rate
                step["click_rate"] = step_figures.click_rate
        return data


def _window(column: Any, since: datetime | None, until: datetime | None) -> Any:
    clauses = []
    if since is not None:
        clauses.append(column >= since)
    if until is not None:
        clauses.append(column < until)
    return and_(True, *clauses)


def build_report(
    conn: Connection,
    since: datetime | None = None,
    until: datetime | None = None,
    step_order: dict[str, list[str]] | None = None,
) -> Report:
    """Every figure of the report for changes, sends and handoffs in ``[since, until)``.

    ``step_order`` (campaign key -> step ids, from the program) lists steps in campaign order.
    """
    s = stage_changes.c
    reached: dict[str, int] = dict(
        conn.execute(
            select(s.to_stage, func.count(func.distinct(s.lead_id)))
            .where(_window(s.at, since, until))
            .group_by(s.to_stage)
        ).all()
    )
    funnel: list[FunnelStage] = []
    previous: int | None = None
    for stage in FUNNEL:
        count = int(reached.get(stage, 0))
        funnel.append(FunnelStage(stage, count, (count / previous) if previous else None))
        previous = count
    return Report(
        since,
        until,
        funnel,
        {stage: int(reached.get(stage, 0)) for stage in SIDE_STAGES},
        _campaigns(conn, since, until, step_order or {}),
        _sla(conn, since, until),
    )


def _campaigns(
    conn: Connection, since: datetime | None, until: datetime | None, step_order: dict[str, list[str]]
) -> list[CampaignFigures]:
    e = enrollments.c
    campaigns: dict[str, CampaignFigures] = {}
    for key, status, count in conn.execute(
        select(e.campaign_key, e.status, func.count())
        .where(_window(e.entered_at, since, until))
        .group_by(e.campaign_key, e.status)
    ):
        figures = campaigns.setdefault(key, CampaignFigures(key))
        figures.entered += count
        if status in ("active", "completed", "exited", "failed"):
            setattr(figures, status, getattr(figures, status) + count)
    steps: dict[tuple[str, str], StepFigures] = {}
    _count_messages(conn, since, until, steps)
    _count_engagement(conn, since, until, steps)

    def position(item: tuple[tuple[str, str], StepFigures]) -> tuple[str, int, str]:
        (key, step_id), _ = item
        order = step_order.get(key, [])
        return (key, order.index(step_id) if step_id in order else len(order), step_id)

    for (key, _), step_figures in sorted(steps.items(), key=position):
        campaigns.setdefault(key, CampaignFigures(key)).steps.append(step_figures)
    return [campaigns[k] for k in sorted(campaigns)]


def _count_messages(
    conn: Connection,
    since: datetime | None,
    until: datetime | None,
    steps: dict[tuple[str, str], StepFigures],
) -> None:
    m = messages.c
    for key, step_id, status, count in conn.execute(
        select(m.campaign_key, m.step_id, m.status, func.count())
        .where(m.kind == "marketing", _window(m.created_at, since, until))
        .group_by(m.campaign_key, m.step_id, m.status)
    ):
        figures = steps.setdefault((key, step_id), StepFigures(key, step_id))
        if status in ("sent", "bounced", "failed"):
            setattr(figures, status, getattr(figures, status) + count)


def _count_engagement(
    conn: Connection,
    since: datetime | None,
    until: datetime | None,
    steps: dict[tuple[str, str], StepFigures],
) -> None:
    ev = events.c
    machine = ev.machine_reason.is_not(None)
    counts = (func.count(func.distinct(ev.message_id)), func.count())
    for key, step_id, type_, is_machine, distinct_messages, total in conn.execute(
        select(ev.campaign_key, ev.step_id, ev.type, machine, *counts)
        .where(ev.campaign_key.is_not(None), ev.step_id.is_not(None), _window(ev.occurred_at, since, until))
        .group_by(ev.campaign_key, ev.step_id, ev.type, machine)
    ):
        figures = steps.setdefault((key, step_id), StepFigures(key, step_id))
        if type_ == "email_open":
            figures.machine_opens += total if is_machine else 0
            figures.opened += 0 if is_machine else distinct_messages
        elif type_ == "email_click":
            figures.machine_clicks += total if is_machine else 0
            figures.clicked += 0 if is_machine else distinct_messages
        elif type_ == "unsubscribe":
            figures.unsubscribed += total


def _sla(conn: Connection, since: datetime | None, until: datetime | None) -> SlaFigures:
    h = handoffs.c
    figures = SlaFigures()
    hours: list[float] = []
    by_status: dict[str, int] = defaultdict(int)
    by_rep: dict[str, int] = defaultdict(int)
    for row in conn.execute(
        select(h.status, h.rep_id, h.assigned_at, h.accept_due_at, h.responded_at).where(
            _window(h.assigned_at, since, until)
        )
    ):
        figures.handoffs += 1
        by_status[row.status] += 1
        by_rep[row.rep_id or "(manager)"] += 1
        answered = bulk.read_instant(row.responded_at)
        due = bulk.read_instant(row.accept_due_at)
        if row.status in ("reassigned", "escalated"):
            figures.breaches += 1
        if answered is not None:
            hours.append((answered - bulk.read_instant(row.assigned_at)).total_seconds() / 3600)  # type: ignore[operator]
            if row.status in ("accepted", "converted"):
                if due is None or answered <= due:
                    figures.accepted_in_time += 1
                else:
                    figures.accepted_late += 1
    figures.by_status = dict(sorted(by_status.items()))
    figures.by_rep = dict(sorted(by_rep.items()))
    figures.median_hours_to_answer = round(median(hours), 2) if hours else None
    return figures
