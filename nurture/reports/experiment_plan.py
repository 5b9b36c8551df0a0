"""How long each experiment needs: the sample fixed in advance, what is judged so far, and at the
current entry rate the weeks until a verdict (or that it will not come within a year)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from nurture.definitions import Campaign, Program
from nurture.reports.experiment_rows import holdout_members, promoted_winners, variant_sends
from nurture.reports.experiments import holdout_plan, judge_experiments, variant_plan
from nurture.store.schema import enrollments, messages

RATE_WINDOW = timedelta(days=28)  # the current entry rate: the last four weeks
NEVER_WEEKS = 52.0  # a test that needs more than a year will not give an answer worth waiting for


@dataclass(frozen=True)
class ExperimentPlan:
    kind: str  # variants | holdout
    campaign: str
    step: str | None
    metric: str
    within_days: float
    groups: dict[str, float]  # each group's share of the leads
    planned: dict[str, int]
    judged: dict[str, int]
    leads_per_week: float | None  # leads reaching the experiment per week, over the last 4 weeks
    weeks_to_verdict: float | None  # None: no leads came in the last 4 weeks, no estimate
    finishes: bool  # False when the verdict would take more than 52 weeks
    measured: bool = True  # False: planned from the definitions alone (no database to ask)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        """One line in the marketer's words, as `experiments plan` and `check` print it."""
        where = f"{self.campaign}/{self.step}" if self.step else f"{self.campaign} (holdout)"
        needs = ", ".join(f"{n} {g.replace('_', ' ')}" for g, n in self.planned.items())
        head = f"{where}: {self.metric} within {self.within_days:g} days needs {needs} judged leads"
        if not self.measured:
            return f"{head}; nurture experiments plan gives the weeks to a verdict once leads come in"
        if self.weeks_to_verdict is None:
            return f"{head}; no leads reached it in the last 4 weeks, so no estimate of when"
        rate = f"at {self.leads_per_week:.1f} leads a week"
        if not self.finishes:
            return (
                f"{head}; {rate} that is {self.weeks_to_verdict:.0f} weeks: it will never finish in "
                "practice (over 52 weeks); test a larger effect, an earlier outcome (clicked, sal) "
                "or more leads"
            )
        if self.weeks_to_verdict == 0:
            return f"{head}; the sample is complete: see the verdict in nurture report"
        return f"{head}; {rate} a verdict in about {self.weeks_to_verdict:.1f} weeks"


def _weeks(
    planned: dict[str, int], judged: dict[str, int], shares: dict[str, float], per_week: float, within: float
) -> float:
    missing = max(
        (max(0, planned[g] - judged.get(g, 0)) / (per_week * shares[g]) for g in planned), default=0.0
    )
    return 0.0 if missing == 0 else missing + within / 7


def experiment_plans(conn: Connection, program: Program, now: datetime) -> list[ExperimentPlan]:
    campaigns = list(program.campaigns.values())
    with_holdout = [(c.key, c.holdout.within) for c in campaigns if c.holdout is not None]
    judged = judge_experiments(
        campaigns,
        variant_sends(conn, now),
        holdout_members(conn, with_holdout, now),
        promoted_winners(conn),
        {},
        now,
    )
    return [_plan(e, program.campaign(e["campaign"]), conn, now) for e in judged if not e.get("promoted")]


def planned_only(program: Program) -> list[ExperimentPlan]:
    """The samples the running experiments need, from the definitions alone."""
    found = []
    for campaign in sorted(program.campaigns.values(), key=lambda c: c.key):
        for step in campaign.send_steps:
            send = step.send
            if send.variants and send.winner is None:
                total = sum(v.weight for v in send.variants)
                shares = {v.id: v.weight / total for v in send.variants}
                found.append(_unmeasured("variants", campaign.key, step.step_id, send.judged_on.metric,
                                         send.judged_on.within, shares, variant_plan(send)))  # fmt: skip
        if campaign.holdout is not None:
            holdout = campaign.holdout
            shares = {"treated": 1 - holdout.share, "held_out": holdout.share}
            found.append(_unmeasured("holdout", campaign.key, None, holdout.metric, holdout.within, shares,
                                     holdout_plan(holdout)))  # fmt: skip
    return found


def _unmeasured(
    kind: str,
    campaign: str,
    step: str | None,
    metric: str,
    within: timedelta,
    shares: dict[str, float],
    planned: dict[str, int],
) -> ExperimentPlan:
    days = round(within / timedelta(days=1), 3)
    return ExperimentPlan(kind, campaign, step, metric, days, shares, planned, {}, None, None, True, False)


def _plan(e: dict[str, Any], campaign: Campaign, conn: Connection, now: datetime) -> ExperimentPlan:
    since = now - RATE_WINDOW
    if e["kind"] == "variants":
        step = campaign.step(e["step"])
        weights = {v.id: v.weight for v in step.send.variants}  # type: ignore[union-attr]
        total = sum(weights.values())
        shares = {k: w / total for k, w in weights.items()}
        rows: Sequence[dict[str, Any]] = e["variants"]
        planned = {v["variant"]: v["planned"] for v in rows}
        done = {v["variant"]: v["judged"] for v in rows}
        m = messages.c
        reached = conn.scalar(
            select(func.count()).where(
                m.campaign_key == campaign.key,
                m.step_id == e["step"],
                m.created_at > since,
                m.created_at <= now,
            )
        )
        if not reached:  # no email of the step yet: every entering lead may reach it (an upper bound)
            reached = _entered(conn, campaign.key, since, now)
    else:
        share = e["share"]
        shares = {"treated": 1 - share, "held_out": share}
        planned = {g["group"]: g["planned"] for g in e["groups"]}
        done = {g["group"]: g["judged"] for g in e["groups"]}
        reached = _entered(conn, campaign.key, since, now)
    per_week = (reached or 0) / (RATE_WINDOW / timedelta(weeks=1))
    weeks = _weeks(planned, done, shares, per_week, e["within_days"]) if per_week else None
    return ExperimentPlan(
        e["kind"], e["campaign"], e.get("step"), e["metric"], e["within_days"], shares, planned, done,
        round(per_week, 2) if per_week else None, None if weeks is None else round(weeks, 1),
        weeks is None or weeks <= NEVER_WEEKS,
    )  # fmt: skip


def _entered(conn: Connection, campaign: str, since: datetime, now: datetime) -> int:
    en = enrollments.c
    return int(
        conn.scalar(
            select(func.count()).where(
                en.campaign_key == campaign, en.entered_at > since, en.entered_at <= now
            )
        )
        or 0
    )
