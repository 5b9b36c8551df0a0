"""The cohort waterfall, the SiriusDecisions flows and the stage balance on hand-computed tables."""

from __future__ import annotations

import pytest

from nurture.reports.balance import stage_balance
from nurture.reports.cohort import flows, waterfall
from nurture.reports.journeys import cohort
from nurture.reports.rows import Handoff
from tests.reports.rows import day, every, handoffs_of, journeys_of, moves, walk


def test_rates_follow_the_cohort_and_never_pass_one() -> None:
    leads = [
        walk(1, ("lead", 0), ("mql", 2), ("sal", 3), ("sql", 5)),
        walk(2, ("lead", 0), ("mql", 4), ("sal", 5)),
        walk(3, ("lead", 0), ("customer", 10)),  # skipped four stages
        walk(4, ("lead", 0), ("mql", 1), ("recycled", 2)),
        walk(5, ("lead", 0)),
    ]
    figures = {s.stage: s for s in waterfall(journeys_of(leads)).stages}
    assert [figures[s].reached for s in ("lead", "mql", "sal", "sql", "opportunity", "customer")] == [
        5,
        4,
        3,
        2,
        1,
        1,
    ]
    assert [figures[s].rate for s in ("lead", "mql", "sal", "sql", "opportunity", "customer")] == [
        1.0, 0.8, 0.75, pytest.approx(0.6667), 0.5, 1.0,
    ]  # fmt: skip
    assert [figures[s].skipped for s in ("mql", "sal", "sql", "opportunity")] == [1, 1, 1, 1]
    # Days from the previous stage, over leads recorded at the stage: mql 2, 4, 1 -> median 2.
    assert figures["mql"].median_days == 2.0 and figures["sal"].median_days == 1.0
    # p90 of (1, 2, 4) by linear interpolation: 2 + 0.8 * 2.
    assert figures["mql"].p90_days == 3.6
    # Lead 3 went lead -> customer: ten days, measured from its last recorded stage.
    assert figures["customer"].median_days == 10.0
    assert (figures["lead"].still_open, figures["sal"].still_open, figures["sql"].still_open) == (1, 1, 1)
    # Lost after mql: lead 4 (recycled); lead 5 is still open at lead, not lost.
    assert figures["mql"].lost == 1 and figures["lead"].lost == 0
    assert waterfall(journeys_of(leads)).bottleneck == "mql"


def test_a_recycled_lead_counts_once_per_cohort_at_its_first_arrival() -> None:
    back_and_forth = walk(1, ("lead", 0), ("mql", 2), ("recycled", 3), ("mql", 20), ("sal", 21))
    figures = {s.stage: s for s in waterfall(journeys_of([back_and_forth])).stages}
    assert figures["mql"].reached == 1 and figures["mql"].median_days == 2.0
    # SAL is measured from the first MQL: the cohort's clock does not restart on recycling.
    assert figures["sal"].median_days == 19.0


def test_the_cohort_is_leads_created_in_the_period_or_with_by_entry_first_in_the_funnel() -> None:
    early = walk(1, ("lead", 0), ("mql", 40))
    subscriber = walk(2, ("subscriber", 0), ("lead", 35), created=0)
    late = walk(3, ("lead", 31), created=31)
    three = journeys_of([early, subscriber, late])
    assert three.lead_id[cohort(three, day(30), day(60))].tolist() == [3]
    assert three.lead_id[cohort(three, day(30), day(60), by_entry=True)].tolist() == [2, 3]
    # A subscriber who never became a lead is in the created cohort but has reached no stage.
    alone = journeys_of([walk(4, ("subscriber", 0))])
    figures = waterfall(alone, cohort(alone, None, None)).stages
    assert figures[0].reached == 0 and figures[0].rate == 0.0


def test_flows_say_what_became_of_each_mql_once() -> None:
    leads = [
        walk(1, ("lead", 0), ("mql", 1), ("sal", 2)),
        walk(2, ("lead", 0), ("mql", 1), ("recycled", 2), ("mql", 9)),
        walk(3, ("lead", 0), ("mql", 1), ("recycled", 2)),
        walk(4, ("lead", 0), ("mql", 1), ("disqualified", 3)),
        walk(5, ("lead", 0)),
    ]
    handoffs = [
        Handoff(1, 1, "anna", "reassigned", day(1), day(1.2), None, "timed out"),
        Handoff(2, 1, "ben", "accepted", day(1.3), day(1.5), day(2), None),
        Handoff(3, 2, "anna", "rejected", day(1), day(1.2), day(2), "no budget"),
        Handoff(4, 2, "ben", "pending", day(9), day(9.2), None, None),
        Handoff(5, 3, "anna", "rejected", day(1), day(1.2), day(2), "no budget"),
        Handoff(6, 3, "anna", "rejected", day(1), day(1.2), day(2), "no budget"),
    ]
    journeys = journeys_of(leads)
    f = flows(journeys, every(journeys), handoffs_of(handoffs, journeys))
    assert (f.mqls, f.accepted, f.rejected, f.breached, f.waiting) == (4, 1, 2, 1, 1)
    assert f.rejected_by_reason == {"no budget": 2}  # leads, not rejections
    assert (f.recycled, f.requalified, f.disqualified) == (2, 1, 1)


def test_balance_is_inflow_minus_outflow_carried_from_period_to_period() -> None:
    changes = [
        *moves(1, ("lead", 0), ("mql", 8)),  # weeks of 2 March and 9 March
        *moves(2, ("lead", 1), ("mql", 2), ("sal", 9)),
        *moves(3, ("lead", 10)),
    ]
    rows = {
        (r.period, r.stage): (r.inflow, r.outflow, r.balance)
        for r in stage_balance(changes, None, day(13), "week")
    }
    assert rows[("2026-03-02", "lead")] == (2, 1, 1)
    assert rows[("2026-03-02", "mql")] == (1, 0, 1)
    assert rows[("2026-03-09", "lead")] == (1, 1, 1)
    assert rows[("2026-03-09", "mql")] == (1, 1, 1)
    assert rows[("2026-03-09", "sal")] == (1, 0, 1)
    # A period starting later carries what came before it.
    later = {(r.period, r.stage): r.balance for r in stage_balance(changes, day(7), day(13), "month")}
    assert later == {("2026-03", "lead"): 1, ("2026-03", "mql"): 1, ("2026-03", "sal"): 1}
