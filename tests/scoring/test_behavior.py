"""Behaviour points: per event, filtered by `where`, capped per day, fading by half-life."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nurture.scoring import score_breakdown
from tests.sales.desk import LEADS, MONDAY, SCORING, Desk, write_workspace

LENA = "lena@alpenblick.de"  # fit 25: decision maker, mid-sized company


@pytest.fixture
def desk(desk: Desk) -> Desk:
    desk.import_leads(LEADS)
    return desk


def behaviour_lines(desk: Desk, email: str = LENA) -> list[tuple[float, str]]:
    return [(line.points, line.rule) for line in desk.ledger(email) if line.kind == "behavior"]


def test_each_event_earns_its_rule_points_with_a_ledger_line_naming_rule_and_event(desk: Desk) -> None:
    event_id = desk.record(LENA, "email_click", MONDAY)
    lead = desk.lead(LENA)
    assert (lead.fit_score, lead.behavior_score, lead.score) == (25, 5, 30)
    line = desk.ledger(LENA)[-1]
    assert (line.points, line.kind, line.rule, line.reason, line.event_id) == (
        5,
        "behavior",
        "behavior: email_click",
        "email_click",
        event_id,
    )
    assert line.at == MONDAY


def test_where_filters_events_by_their_properties_and_url(desk: Desk) -> None:
    desk.record(LENA, "download", MONDAY, asset_type="datasheet")
    desk.record(LENA, "download", MONDAY, asset_type="whitepaper")
    desk.record(LENA, "page_view", MONDAY, url="https://taktwerk.example/blog")
    desk.record(LENA, "page_view", MONDAY, url=None)
    desk.record(LENA, "page_view", MONDAY, url="https://taktwerk.example/pricing")
    assert behaviour_lines(desk) == [
        (10, "behavior: download where event.asset_type == 'whitepaper'"),
        (15, "behavior: page_view where '/pricing' in (event.url or '')"),
    ]
    assert [line.reason for line in desk.ledger(LENA)[-2:]] == ["Whitepaper", "Pricing page"]


def test_max_per_day_caps_a_rule_per_lead_and_day_across_batches(desk: Desk) -> None:
    for minute in range(5):
        desk.record(LENA, "email_open", MONDAY + timedelta(minutes=minute))
    assert behaviour_lines(desk) == [(1, "behavior: email_open")] * 3
    desk.record("max@bergwerk.at", "email_open", MONDAY)  # another lead has its own allowance
    desk.record(LENA, "email_open", MONDAY + timedelta(days=1))
    assert len(behaviour_lines(desk)) == 4


def test_the_day_of_max_per_day_is_the_leads_own_day(desk: Desk) -> None:
    # 22:30 and 23:30 UTC on Monday are 23:30 Monday and 00:30 Tuesday in Berlin.
    late = datetime(2026, 3, 2, 21, 0, tzinfo=UTC)
    for minute in range(3):
        desk.record(LENA, "email_open", late + timedelta(minutes=minute))
    desk.record(LENA, "email_open", datetime(2026, 3, 2, 22, 30, tzinfo=UTC))
    assert len(behaviour_lines(desk)) == 3
    desk.record(LENA, "email_open", datetime(2026, 3, 2, 23, 30, tzinfo=UTC))
    assert len(behaviour_lines(desk)) == 4


def test_machine_flagged_events_score_nothing(desk: Desk) -> None:
    desk.record(LENA, "email_open", MONDAY, machine="privacy_proxy")
    desk.record(LENA, "email_click", MONDAY, machine="link_scanner")
    assert behaviour_lines(desk) == []
    assert desk.lead(LENA).score == 25


def test_negative_points_lower_the_score(desk: Desk) -> None:
    desk.record(LENA, "email_click", MONDAY)
    desk.record(LENA, "unsubscribe", MONDAY)
    assert desk.lead(LENA).behavior_score == -15


def test_events_without_a_rule_change_nothing(desk: Desk) -> None:
    before = desk.lead(LENA)
    desk.record(LENA, "form_submit", MONDAY + timedelta(hours=1))
    after = desk.lead(LENA)
    assert (after.score, after.updated_at) == (before.score, before.updated_at)


def test_behaviour_points_halve_every_half_life_and_fit_points_do_not(desk: Desk) -> None:
    desk.record(LENA, "webinar_attended", MONDAY)
    desk.record(LENA, "email_click", MONDAY + timedelta(days=30))
    lead = desk.lead(LENA)
    assert lead.behavior_score == pytest.approx(10 + 5)
    assert lead.score == pytest.approx(25 + 15)


def test_a_late_event_earns_points_already_faded(desk: Desk) -> None:
    sixty_days_ago = MONDAY - timedelta(days=60)
    desk.record(LENA, "webinar_attended", sixty_days_ago, now=MONDAY)
    assert desk.lead(LENA).behavior_score == pytest.approx(5)
    assert desk.ledger(LENA)[-1].at == sixty_days_ago  # the line keeps when it happened


def test_an_event_from_a_clock_ahead_of_ours_counts_as_now(desk: Desk) -> None:
    desk.record(LENA, "email_click", MONDAY + timedelta(hours=2), now=MONDAY)
    assert desk.ledger(LENA)[-1].at == MONDAY
    assert desk.lead(LENA).behavior_score == 5


TWIN_RULES = SCORING.replace(
    "  - {event: unsubscribe, points: -20}\n",
    "  - {event: unsubscribe, points: -20}\n"
    "  - {event: newsletter_subscribe, points: 5, max_per_day: 1}\n"
    "  - {event: newsletter_subscribe, points: 2, max_per_day: 2}\n",
)


def test_two_rules_for_one_event_keep_their_own_daily_cap_and_ledger_name(desk: Desk) -> None:
    write_workspace(desk.root, scoring=TWIN_RULES)
    desk.reload()
    for minute in range(3):
        desk.record(LENA, "newsletter_subscribe", MONDAY + timedelta(minutes=minute))
    assert behaviour_lines(desk) == [
        (5, "behavior: newsletter_subscribe #8"),
        (2, "behavior: newsletter_subscribe #9"),
        (2, "behavior: newsletter_subscribe #9"),
    ]
    with desk.store.connect() as conn:
        why = score_breakdown(conn, desk.lead_id(LENA), desk.program, MONDAY + timedelta(hours=1))
    assert sorted((line.rule, line.count) for line in why.behavior_lines) == [
        ("behavior: newsletter_subscribe #8", 1),
        ("behavior: newsletter_subscribe #9", 2),
    ]


def test_twin_rules_with_reasons_of_their_own_are_named_by_them(desk: Desk) -> None:
    scoring = TWIN_RULES.replace("max_per_day: 1}", "max_per_day: 1, reason: Signed up}").replace(
        "max_per_day: 2}", "max_per_day: 2, reason: Signed up again}"
    )
    write_workspace(desk.root, scoring=scoring)
    desk.reload()
    desk.record(LENA, "newsletter_subscribe", MONDAY)
    assert behaviour_lines(desk) == [
        (5, "behavior: newsletter_subscribe (Signed up)"),
        (2, "behavior: newsletter_subscribe (Signed up again)"),
    ]
