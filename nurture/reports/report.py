"""The whole report, computed once from the recorded history: every surface (terminal, JSON, CSV,
HTML page) shows these figures and computes none of its own."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from nurture.definitions import Program, SalesTeam
from nurture.definitions.steps import ExitStep
from nurture.errors import NurtureError
from nurture.reports import attribution as attribution_model
from nurture.reports.attribution import DEFAULT_HALF_LIFE, Credit, attribute, by_campaign
from nurture.reports.balance import StageBalance, balance_rows
from nurture.reports.breakdown import Group, breakdown, dimension
from nurture.reports.campaigns import CampaignFigures, CampaignShape, StepFigures, campaign_figures
from nurture.reports.clocks import RepHours, WorkingClock
from nurture.reports.cohort import Flows, Waterfall, flows, waterfall
from nurture.reports.journeys import cohort
from nurture.reports.money import MoneyFigures, costs_in_period, deals, money_figures, revenue_by_lead
from nurture.reports.owners import owners_at
from nurture.reports.recorded import Recorded, recorded_from_rows
from nurture.reports.reps import SlaFigures, sla_figures
from nurture.reports.rows import History
from nurture.reports.stuck import StuckLead, stage_limits, stuck_leads
from nurture.reports.touches import TouchFigures, touches_before_mql
from nurture.reports.velocity import Velocity, velocity
from nurture.sales.handoffs import manager_owner
from nurture.zones import zone

EVERY = ("week", "month")


class ReportError(NurtureError):
    """The report cannot be made as asked."""


@dataclass(frozen=True)
class ReportOptions:
    now: datetime
    since: datetime | None = None
    until: datetime | None = None
    by_entry: bool = False
    every: str = "month"
    attribution: str = "linear"
    by: str | None = None

    def __post_init__(self) -> None:
        if self.every not in EVERY:
            raise ReportError(f"--every must be week or month, not {self.every!r}")
        if self.attribution not in attribution_model.MODELS:
            raise ReportError(
                f"--attribution must be one of {', '.join(attribution_model.MODELS)}, "
                f"not {self.attribution!r}"
            )
        if self.since and self.until and self.since >= self.until:
            raise ReportError("--since must be before --until")


@dataclass(frozen=True)
class ProgramFacts:
    """What the report reads from the program's definitions."""

    rep_hours: RepHours = field(default_factory=dict)
    stale_after: dict[str, timedelta] = field(default_factory=dict)
    half_life: timedelta = DEFAULT_HALF_LIFE
    campaigns: dict[str, CampaignShape] = field(default_factory=dict)
    sales_teams: Mapping[str, SalesTeam] = field(default_factory=dict)  # who the managers are


def program_facts(program: Program | None) -> ProgramFacts:
    if program is None:
        return ProgramFacts()
    hours = {
        rep.id: (rep.working_hours.weekly, zone(rep.working_hours.timezone))
        for team in program.sales_teams.values()
        for rep in team.reps
    }
    sla = next(program.of_kind("SLA"), None)
    stale = dict(sla.definition.stale_after) if sla is not None else {}  # type: ignore[union-attr]
    model = program.scoring_model
    half_life = model.decay.half_life if model is not None and model.decay is not None else DEFAULT_HALF_LIFE
    shapes = {
        key: CampaignShape(
            tuple(campaign.step_ids),
            frozenset(step.reason for step in campaign.steps if isinstance(step, ExitStep)),
        )
        for key, campaign in program.campaigns.items()
    }
    for team in program.sales_teams.values():
        # A manager's handoffs count in their working hours when the team gives them some.
        if team.manager.working_hours is not None:
            manager_hours = team.manager.working_hours
            hours[manager_owner(team)] = (manager_hours.weekly, zone(manager_hours.timezone))
    return ProgramFacts(hours, stale, half_life, shapes, program.sales_teams)


@dataclass
class Report:
    options: ReportOptions
    cohort: int
    funnel: Waterfall
    flows: Flows
    balance: list[StageBalance]
    velocity: Velocity
    stuck_limits_days: dict[str, float]
    stuck: list[StuckLead]
    touches: TouchFigures
    campaigns: list[CampaignFigures]
    sla: SlaFigures
    attribution: list[Credit]
    attribution_by_campaign: list[Credit]
    money: MoneyFigures
    breakdown: list[Group] | None
    half_life_days: float
    experiments: list[Any] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The documented JSON (docs/reports.md); the CSV files and the page read it too."""
        o = self.options
        return {
            "period": {
                "since": o.since.isoformat() if o.since else None,
                "until": o.until.isoformat() if o.until else None,
                "now": o.now.isoformat(),
                "cohort": "entered the funnel" if o.by_entry else "created",
                "leads": self.cohort,
            },
            "funnel": [asdict(s) for s in self.funnel.stages],
            "bottleneck": self.funnel.bottleneck,
            "flows": asdict(self.flows),
            "balance": {"every": o.every, "rows": [asdict(b) for b in self.balance]},
            "velocity": asdict(self.velocity),
            "stuck": {"limits_days": self.stuck_limits_days, "leads": [s.as_dict() for s in self.stuck]},
            "touches": asdict(self.touches),
            "campaigns": [_campaign_json(c) for c in self.campaigns],
            "sla": asdict(self.sla),
            "attribution": {
                "model": o.attribution,
                "half_life_days": self.half_life_days,
                "credits": [asdict(c) for c in self.attribution],
                "by_campaign": [asdict(c) | {"step": None} for c in self.attribution_by_campaign],
            },
            "money": asdict(self.money),
            "breakdown": None
            if self.breakdown is None
            else {
                "by": o.by,
                "groups": [
                    {
                        "value": g.value,
                        "leads": g.funnel.cohort,
                        "funnel": [asdict(s) for s in g.funnel.stages],
                        "velocity": [asdict(leg) for leg in g.velocity.legs],
                    }
                    for g in self.breakdown
                ],
            },
            "experiments": self.experiments,
        }


def _campaign_json(campaign: CampaignFigures) -> dict[str, Any]:
    data = asdict(campaign)
    for step, figures in zip(data["steps"], campaign.steps, strict=True):
        step["open_rate"] = figures.open_rate
        step["click_rate"] = figures.click_rate
    return data


def build_report(
    history: Recorded | History,
    steps: list[StepFigures] | Callable[[], list[StepFigures]],
    facts: ProgramFacts,
    options: ReportOptions,
) -> Report:
    """Every figure of the report, from the recorded history (or plain rows, made columns first).
    ``steps`` may be a function that waits for them (they are counted beside): it is called last."""
    until = options.until or options.now
    recorded = (
        recorded_from_rows(history, until, options.every, options.since, options.until)
        if isinstance(history, History)
        else history
    )
    everyone = recorded.journeys
    handoffs = recorded.handoffs
    members = cohort(everyone, options.since, options.until, by_entry=options.by_entry)
    limits = stage_limits(facts.stale_after, waterfall(everyone))
    teams = facts.sales_teams
    clock = WorkingClock(facts.rep_hours)
    leads = len(everyone)
    owners = owners_at(leads, handoffs, recorded.facts, options.now, teams)
    # The figures that need no touches first: the report reads the touches beside meanwhile
    # (recorded.touches waits for them).
    funnel = waterfall(everyone, members)
    flowing = flows(everyone, members, handoffs)
    balance = balance_rows(recorded.moves, options.since, until, options.every)
    speed = velocity(everyone, members, handoffs, clock)
    stuck = stuck_leads(everyone, limits, options.now, recorded.facts, owners)
    sla = sla_figures(handoffs, everyone, clock, options.since, options.until, facts.sales_teams)
    groups = (
        None
        if options.by is None
        else breakdown(
            everyone,
            members,
            dimension(
                options.by,
                leads,
                recorded.facts,
                (owners if until == options.now else owners_at(leads, handoffs, recorded.facts, until, teams))
                if options.by == "owner"
                else None,
            ),
            handoffs,
            clock,
        )
    )
    found_deals = deals(everyone, members)
    credits = attribute(
        everyone,
        members,
        recorded.touches,
        revenue_by_lead(found_deals),
        options.attribution,
        facts.half_life,
    )
    per_campaign = by_campaign(credits)
    report = Report(
        options=options,
        cohort=len(members),
        funnel=funnel,
        flows=flowing,
        balance=balance,
        velocity=speed,
        stuck_limits_days={s: round(d, 2) for s, d in limits.items()},
        stuck=stuck,
        touches=touches_before_mql(everyone, members, recorded.touches),
        campaigns=[],  # below, once the steps are counted
        sla=sla,
        attribution=credits,
        attribution_by_campaign=sorted(
            per_campaign.values(), key=lambda c: (-c.customers, -c.mqls, c.campaign)
        ),
        money=money_figures(
            found_deals, per_campaign, costs_in_period(recorded.costs, options.since, options.until)
        ),
        breakdown=groups,
        half_life_days=round(facts.half_life.total_seconds() / 86_400, 2),
    )
    report.campaigns = campaign_figures(
        recorded.entered, steps() if callable(steps) else steps, facts.campaigns
    )
    return report
