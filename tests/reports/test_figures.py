"""Velocity, the SLA per rep, stuck leads, touches, attribution and money on hand-computed tables."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from nurture.reports import touch_columns
from nurture.reports.attribution import MODELS, NO_TOUCH, attribute, by_campaign, conversion_shares, weights
from nurture.reports.clocks import WorkingClock
from nurture.reports.cohort import waterfall
from nurture.reports.instants import micros
from nurture.reports.journeys import Journeys
from nurture.reports.lead_facts import RowFacts
from nurture.reports.money import costs_in_period, deals, money_figures, revenue_by_lead
from nurture.reports.owners import owners_at
from nurture.reports.reps import sla_figures
from nurture.reports.rows import Cost, Handoff, Touch
from nurture.reports.stuck import stage_limits, stuck_leads
from nurture.reports.touch_columns import Touches
from nurture.reports.touches import touches_before_mql
from nurture.reports.velocity import velocity
from nurture.timewindows import WeeklyHours
from tests.reports.rows import day, every, handoffs_of, journeys_of, touches_of, walk

BERLIN = ZoneInfo("Europe/Berlin")
HOURS = {"anna": (WeeklyHours.parse("mon-fri", "08:00-18:00"), BERLIN)}
FRIDAY_EVENING = datetime(2026, 3, 6, 16, 30, tzinfo=UTC)  # 17:30 in Berlin
MONDAY_MORNING = datetime(2026, 3, 9, 8, 30, tzinfo=UTC)  # 09:30 in Berlin


def test_velocity_counts_mql_to_sal_in_the_accepting_reps_working_hours() -> None:
    lena = walk(1, ("lead", 0), ("mql", 4.3), ("sal", 7), ("sql", 9), ("customer", 30))
    handoffs = [Handoff(1, 1, "anna", "accepted", FRIDAY_EVENING, None, MONDAY_MORNING, None)]
    journeys = journeys_of([lena])
    legs = {
        leg.leg: leg
        for leg in velocity(
            journeys, every(journeys), handoffs_of(handoffs, journeys), WorkingClock(HOURS)
        ).legs
    }
    assert legs["mql -> sal"].median == 2.0 and legs["mql -> sal"].clock == "working hours"
    assert legs["lead -> mql"].median == 4.3 and legs["sal -> sql"].median == 2.0
    assert legs["lead -> customer"].median == 30.0


def test_velocity_trend_groups_legs_by_the_month_they_ended() -> None:
    leads = [
        walk(1, ("lead", 0), ("mql", 2)),
        walk(2, ("lead", 0), ("mql", 4)),
        walk(3, ("lead", 0), ("mql", 40)),
    ]
    journeys = journeys_of(leads)
    found = velocity(journeys, every(journeys), handoffs_of([], journeys), WorkingClock({}))
    trend = [(t.month, t.leads, t.median) for t in found.trend if t.leg == "lead -> mql"]
    assert trend == [("2026-03", 2, 3.0), ("2026-04", 1, 40.0)]


def test_rep_view_counts_answers_in_working_hours_and_breaches_apart() -> None:
    journeys = journeys_of(
        [
            walk(1, ("lead", 0), ("mql", 4), ("sal", 7), ("sql", 8)),
            walk(2, ("lead", 0), ("mql", 4), ("recycled", 8)),
            walk(3, ("lead", 0), ("mql", 4)),
        ]
    )
    due = FRIDAY_EVENING + timedelta(days=3)
    handoffs = [
        Handoff(1, 1, "anna", "accepted", FRIDAY_EVENING, due, MONDAY_MORNING, None),
        Handoff(
            2, 2, "anna", "rejected", FRIDAY_EVENING, due, MONDAY_MORNING + timedelta(hours=2), "no budget"
        ),
        # Timed out: no answer, whatever its responded_at says.
        Handoff(3, 3, "anna", "reassigned", FRIDAY_EVENING, due, due, None),
        Handoff(4, 3, None, "pending", due, None, None, None, "dach"),  # the manager of a team gone since
    ]
    sla = sla_figures(handoffs_of(handoffs, journeys), journeys, WorkingClock(HOURS), None, None)
    assert (sla.handoffs, sla.accepted_in_time, sla.breaches) == (4, 1, 1)
    assert sla.median_hours_to_answer == 3.0  # of 2 and 4 working hours
    anna = next(r for r in sla.by_rep if r.rep == "anna")
    assert (anna.rejected, anna.rejected_by_reason, anna.breached) == (1, {"no budget": 1}, 1)
    assert (anna.sals, anna.sqls, anna.sal_to_sql, anna.sal_to_customer) == (1, 1, 1.0, 0.0)
    assert next(r for r in sla.by_rep if r.rep == "manager:dach").pending == 1


def test_stuck_leads_by_the_slas_stale_after_or_a_multiple_of_the_median() -> None:
    leads = [
        walk(1, ("lead", 0), ("mql", 2), ("sal", 3)),  # one day from mql to sal: the median
        walk(2, ("lead", 0), ("mql", 10), owner="anna"),  # 10 days at mql by day 20
        walk(3, ("lead", 0), ("mql", 18)),  # 2 days at mql
        walk(4, ("lead", 0)),  # 20 days at lead
    ]
    journeys = journeys_of(leads)
    limits = stage_limits({"lead": timedelta(days=30)}, waterfall(journeys))
    assert limits["lead"] == 30.0 and limits["mql"] == 3.0  # three times the median day to SAL
    facts = RowFacts([w.lead for w in leads], [])
    owners = owners_at(len(journeys), handoffs_of([], journeys), facts, day(20))
    stuck = stuck_leads(journeys, limits, day(20), facts, owners)
    assert [(s.email, s.stage, s.owner, s.days) for s in stuck] == [
        ("lead2@example.com", "mql", "anna", 10.0)
    ]


def test_touches_before_mql_count_emails_and_human_engagement_up_to_qualification() -> None:
    leads = [walk(1, ("lead", 0), ("mql", 5)), walk(2, ("lead", 0), ("mql", 1)), walk(3, ("lead", 0))]
    touches = {
        1: [Touch(1, day(d), "sent", "trial", f"s{d}") for d in (0, 1, 2, 3, 4, 6)]
        + [Touch(1, day(2), "email_click", "trial", "s2")],
        2: [Touch(2, day(0.5), "sent", "trial", "s0")],
        3: [Touch(3, day(0.5), "sent", "trial", "s0")],
    }
    journeys = journeys_of(leads)
    figures = touches_before_mql(journeys, every(journeys), touches_of(touches, journeys))
    assert (figures.mqls, figures.median_emails, figures.median_engagements) == (2, 3.0, 0.5)
    assert figures.emails_distribution == {"0": 0, "1-2": 1, "3-5": 1, "6-8": 0, "9-12": 0, "13+": 0}


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("first", [1, 0, 0, 0]),
        ("last", [0, 0, 0, 1]),
        ("linear", [0.25, 0.25, 0.25, 0.25]),
        ("u_shaped", [0.4, 0.1, 0.1, 0.4]),
        # Ages 3, 2, 1, 0 half-lives: weights 1/8, 1/4, 1/2, 1 over their sum 15/8.
        ("time_decay", [1 / 15, 2 / 15, 4 / 15, 8 / 15]),
    ],
)
def test_attribution_models_on_a_hand_computed_journey(model: str, expected: list[float]) -> None:
    half_life = timedelta(days=7)
    touched = [day(0), day(7), day(14), day(21)]
    assert weights(touched, day(21), model, half_life) == pytest.approx(expected)


def test_u_shaped_with_two_touches_halves() -> None:
    assert weights([day(0), day(1)], day(2), "u_shaped", timedelta(days=7)) == [0.5, 0.5]


@pytest.mark.parametrize("model", MODELS)
def test_every_conversions_credits_sum_to_one(model: str) -> None:
    chance = random.Random(7)
    for _ in range(200):
        n = chance.randint(1, 12)
        touched = sorted(day(chance.uniform(0, 60)) for _ in range(n))
        assert sum(weights(touched, day(61), model, timedelta(days=30))) == pytest.approx(1.0)


def test_a_single_touch_journey_is_credited_the_same_under_every_model() -> None:
    lead = walk(1, ("lead", 0), ("mql", 3), ("sql", 9), ("customer", 20), deal_customer=(5000.0, "EUR"))
    touches = {
        1: [Touch(1, day(1), "sent", "trial", "welcome"), Touch(1, day(2), "email_click", "trial", "welcome")]
    }
    results = set()
    for model in MODELS:
        journeys = journeys_of([lead])
        revenue = revenue_by_lead(deals(journeys, every(journeys)))
        (credit,) = attribute(journeys, every(journeys), touches_of(touches, journeys), revenue, model)
        results.add(
            (credit.campaign, credit.step, credit.mqls, credit.sqls, credit.customers, credit.revenue["EUR"])
        )
    assert results == {("trial", "welcome", 1.0, 1.0, 1.0, 5000.0)}


def test_attribution_credits_add_up_to_the_conversions_and_machines_earn_nothing() -> None:
    leads = [
        walk(1, ("lead", 0), ("mql", 5), ("customer", 9)),
        walk(2, ("lead", 0), ("mql", 5)),
        walk(3, ("lead", 0), ("sql", 5)),  # skipped mql: an MQL conversion all the same
    ]
    touches = {
        1: [Touch(1, day(1), "email_open", "trial", "a"), Touch(1, day(4), "email_click", "webinar", "b"),
            Touch(1, day(8), "email_click", "trial", "c")],
        2: [Touch(2, day(1), "sent", "trial", "a")],  # a send alone: no human touch
        3: [Touch(3, day(6), "email_click", "trial", "a")],  # after its conversion
    }  # fmt: skip
    journeys = journeys_of(leads)
    rows, touched = every(journeys), touches_of(touches, journeys)
    for model in MODELS:
        credits = attribute(journeys, rows, touched, {}, model)
        assert sum(c.mqls for c in credits) == pytest.approx(3)
        assert sum(c.sqls for c in credits) == pytest.approx(2)
        assert sum(c.customers for c in credits) == pytest.approx(1)
        none = next(c for c in credits if (c.campaign, c.step) == NO_TOUCH)
        assert none.mqls == 2.0
    last = {(c.campaign, c.step): c for c in attribute(journeys, rows, touched, {}, "last")}
    assert last[("webinar", "b")].mqls == 1.0 and last[("trial", "c")].customers == 1.0


def test_money_deal_size_revenue_cost_per_customer_and_roi() -> None:
    leads = [
        walk(1, ("lead", 0), ("opportunity", 5), ("customer", 9), deal_opportunity=(9000.0, "EUR"),
             deal_customer=(12000.0, "EUR")),
        walk(2, ("lead", 0), ("customer", 9), deal_customer=(8000.0, "EUR")),
        walk(3, ("lead", 0), ("opportunity", 9), deal_opportunity=(3000.0, "EUR")),
        walk(4, ("lead", 0), ("customer", 9), deal_customer=(1000.0, "USD")),
    ]  # fmt: skip
    journeys = journeys_of(leads)
    found = deals(journeys, every(journeys))
    touches = {i: [Touch(i, day(1), "email_click", "trial", "a")] for i in (1, 2, 3)}
    credits = attribute(
        journeys, every(journeys), touches_of(touches, journeys), revenue_by_lead(found), "linear"
    )
    costs = costs_in_period(
        [Cost("trial", "2026-02", 999.0, "EUR"), Cost("trial", "2026-03", 4000.0, "EUR")], day(0), day(30)
    )
    money = money_figures(found, by_campaign(credits), costs)
    assert money.revenue == {"EUR": 20000.0, "USD": 1000.0} and money.pipeline == {"EUR": 3000.0}
    assert money.average_deal == {"EUR": 10000.0, "USD": 1000.0}
    (trial,) = money.campaigns
    assert (trial.cost, trial.mqls, trial.customers, trial.revenue) == (4000.0, 3.0, 2.0, 20000.0)
    assert (trial.cost_per_mql, trial.cost_per_customer, trial.roi) == (1333.33, 2000.0, 4.0)


@pytest.mark.parametrize("model", MODELS)
def test_the_shares_of_every_conversion_at_once_are_those_of_each_conversion_alone(model: str) -> None:
    # Each lead's touches are grouped and in time order, as the report holds them; every share is
    # the reference definition's (weights), conversion by conversion.
    chance = random.Random(11)
    half_life = timedelta(days=7)
    leads, at, converted, expected = [], [], [], []
    for lead in range(300):
        n = chance.randint(1, 9)
        touched = sorted(day(chance.uniform(0, 60)) for _ in range(n))
        conversion = day(60 + chance.uniform(0, 5))
        leads += [lead] * n
        at += [micros(t) for t in touched]
        converted += [micros(conversion)] * n
        expected += weights(touched, conversion, model, half_life)
    found = conversion_shares(np.array(leads), np.array(at), np.array(converted), model, half_life)
    assert found.tolist() == pytest.approx(expected, rel=1e-12, abs=1e-15)


def _many_journeys_and_touches(seed: int) -> tuple[Journeys, Touches, Touches]:
    """120 leads with random walks, deals and touches: the touches as made (lead by lead) and as
    the database read lays them out (the sends of all leads first, then the engagements)."""
    rnd = random.Random(seed)
    stages = ("mql", "sal", "sql", "opportunity", "customer")
    leads, touches = [], {}
    for lead_id in range(1, 121):
        moves = [("lead", 0)] + [(stage, 2 + 3 * i) for i, stage in enumerate(stages[: rnd.randrange(6)])]
        deal = (rnd.choice([500.0, 1200.0]), rnd.choice(["EUR", "USD"])) if len(moves) == 6 else None
        leads.append(walk(lead_id, *moves, deal_customer=deal))
        touches[lead_id] = sorted(
            (
                Touch(lead_id, day(rnd.uniform(0, 18)), rnd.choice(["sent", "email_open", "email_click"]),
                      "trial", rnd.choice("abc"))
                for _ in range(rnd.randrange(0, 9))
            ),
            key=lambda t: (t.at, t.kind != "sent"),
        )  # fmt: skip
    journeys = journeys_of(leads)
    made = touches_of(touches, journeys)
    layout = np.r_[np.flatnonzero(made.sent), np.flatnonzero(~made.sent)]
    read = Touches(made.lead[layout], made.at[layout], made.sent[layout], made.step[layout], made.steps)
    return journeys, made, read


@pytest.mark.parametrize("model", MODELS)
def test_attribution_block_by_block_equals_all_touches_at_once(
    model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Touches laid out as the database read gives them, credited in blocks of a few rows: the
    same credits as all at once."""
    journeys, made, read = _many_journeys_and_touches(seed=5)
    revenue = revenue_by_lead(deals(journeys, every(journeys)))
    whole = attribute(journeys, every(journeys), made, revenue, model)
    monkeypatch.setattr(touch_columns, "BLOCK", 7)
    blocked = attribute(journeys, every(journeys), read, revenue, model)
    assert [(c.campaign, c.step) for c in blocked] == [(c.campaign, c.step) for c in whole]
    for mine, theirs in zip(blocked, whole, strict=True):
        assert (mine.mqls, mine.sqls, mine.customers) == pytest.approx(
            (theirs.mqls, theirs.sqls, theirs.customers)
        )
        assert mine.revenue == pytest.approx(theirs.revenue)
    assert sum(c.customers for c in whole) > 5 and len(read.blocks()) > 50


def test_touches_before_mql_block_by_block_equal_all_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    journeys, made, read = _many_journeys_and_touches(seed=6)
    whole = touches_before_mql(journeys, every(journeys), made)
    monkeypatch.setattr(touch_columns, "BLOCK", 5)
    assert touches_before_mql(journeys, every(journeys), read) == whole
    assert whole.mqls > 50 and whole.emails_distribution["0"] < whole.mqls  # some mails came before
