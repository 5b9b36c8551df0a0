"""Fit points: recomputed when a lead's fields change, each change one ledger line with its rule."""

from __future__ import annotations

from datetime import timedelta

from nurture.definitions import compile_condition
from nurture.scoring.rules import lead_fields_only
from tests.sales.desk import LEADS, MONDAY, SCORING, Desk, write_workspace

LATER = MONDAY + timedelta(days=1)


def fit_lines(desk: Desk, email: str) -> list[tuple[float, str]]:
    return [(line.points, line.reason) for line in desk.ledger(email) if line.kind == "fit"]


def test_imported_leads_get_a_line_for_each_fit_rule_that_holds(desk: Desk) -> None:
    desk.import_leads(LEADS)
    assert sorted(fit_lines(desk, "lena@alpenblick.de")) == [
        (10, "Mid-sized company"),
        (15, "Decision maker"),
    ]
    assert fit_lines(desk, "sara@gmail.com") == [(-10, "Free-mail address")]
    assert fit_lines(desk, "max@bergwerk.at") == []
    assert desk.lead("lena@alpenblick.de").fit_score == 25
    assert desk.lead("sara@gmail.com").score == -10


def test_a_changed_field_adds_or_takes_back_exactly_the_rules_that_changed(desk: Desk) -> None:
    desk.import_leads(LEADS)
    desk.import_leads(
        "email,job_title,company_size\nlena@alpenblick.de,Engineer,120\nmax@bergwerk.at,VP Sales,80\n", LATER
    )
    assert fit_lines(desk, "lena@alpenblick.de")[-1] == (-15, "Decision maker (no longer holds)")
    assert sorted(fit_lines(desk, "max@bergwerk.at")) == [(10, "Mid-sized company"), (15, "Decision maker")]
    assert (desk.lead("lena@alpenblick.de").fit_score, desk.lead("max@bergwerk.at").fit_score) == (10, 25)


def test_reimporting_unchanged_leads_writes_no_ledger_lines(desk: Desk) -> None:
    desk.import_leads(LEADS)
    before = len(desk.ledger("lena@alpenblick.de"))
    desk.import_leads(LEADS, LATER)
    assert len(desk.ledger("lena@alpenblick.de")) == before


def test_fit_keeps_behaviour_points_and_their_fading(desk: Desk) -> None:
    desk.import_leads(LEADS)
    desk.record("max@bergwerk.at", "webinar_attended", MONDAY)
    desk.import_leads("email,job_title\nmax@bergwerk.at,Head of IT\n", MONDAY + timedelta(days=30))
    lead = desk.lead("max@bergwerk.at")
    assert (lead.fit_score, round(lead.behavior_score, 6), round(lead.score, 6)) == (15, 10, 25)


def test_an_edited_rule_brings_every_lead_to_its_new_points(desk: Desk) -> None:
    desk.import_leads(LEADS)
    edited = SCORING.replace(
        "points: 15\n    reason: Decision maker", "points: 20\n    reason: Decision maker"
    )
    assert edited != SCORING
    write_workspace(desk.root, scoring=edited)
    desk.reload()
    desk.import_leads("email,company\nlena@alpenblick.de,Alpenblick AG\n", LATER)
    assert fit_lines(desk, "lena@alpenblick.de")[-1] == (5, "Decision maker")
    assert desk.lead("lena@alpenblick.de").fit_score == 30


def test_a_removed_rule_takes_its_points_back(desk: Desk) -> None:
    desk.import_leads(LEADS)
    without = "\n".join(line for line in SCORING.splitlines() if "free_mail_domains" not in line) + "\n"
    write_workspace(desk.root, scoring=without)
    desk.reload()
    desk.import_leads("email,first_name\nsara@gmail.com,Sarah\n", LATER)
    assert fit_lines(desk, "sara@gmail.com")[-1][0] == 10
    assert desk.lead("sara@gmail.com").fit_score == 0


def test_conditions_over_lead_fields_alone_are_recognised_for_reuse() -> None:
    assert lead_fields_only(compile_condition("50 <= (lead.company_size or 0) <= 1000")) == ("company_size",)
    assert lead_fields_only(
        compile_condition("lead['job_title'] is matching('x') and lead.country == 'DE'")
    ) == (
        "country",
        "job_title",
    )
    assert lead_fields_only(compile_condition("lead.email_domain in free_mail_domains")) == ("email_domain",)
    # Anything that depends on more than the named fields is evaluated afresh every time.
    for source in (
        "days_since(lead.created_at) > 3",
        "lead.score > now.day",
        "opened('welcome')",
        "(lead | list | length) > 3",
        "lead['job' ~ '_title'] == 'x'",
    ):
        assert lead_fields_only(compile_condition(source)) is None, source


def test_twin_fit_rules_each_have_a_line_of_their_own(desk: Desk) -> None:
    twins = SCORING.replace(
        "  - {when: \"50 <= (lead.company_size or 0) <= 1000\", points: 10, reason: Mid-sized company}\n",
        "  - {when: \"50 <= (lead.company_size or 0) <= 1000\", points: 10, reason: Mid-sized company}\n"
        "  - {when: \"50 <= (lead.company_size or 0) <= 1000\", points: 3, reason: Sweet spot}\n",
    )
    assert twins != SCORING
    write_workspace(desk.root, scoring=twins)
    desk.reload()
    desk.import_leads(LEADS)
    lines = [line for line in desk.ledger("lena@alpenblick.de") if line.kind == "fit"]
    assert sorted((line.points, line.reason) for line in lines) == [
        (3, "Sweet spot"),
        (10, "Mid-sized company"),
        (15, "Decision maker"),
    ]
    assert len({line.rule for line in lines}) == 3
    assert desk.lead("lena@alpenblick.de").fit_score == 28
