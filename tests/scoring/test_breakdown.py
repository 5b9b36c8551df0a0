"""Why is this lead at its score: the breakdown explains it rule by rule, and adds up."""

from __future__ import annotations

from datetime import timedelta

import pytest

from nurture.scoring import score_breakdown
from nurture.scoring.ledger import decayed
from tests.sales.desk import LEADS, MONDAY, Desk

LENA = "lena@alpenblick.de"


def test_fit_lines_and_faded_behaviour_lines_add_up_to_the_score(desk: Desk) -> None:
    desk.import_leads(LEADS)
    for day in range(3):
        desk.record(LENA, "email_click", MONDAY + timedelta(days=day))
    desk.record(LENA, "download", MONDAY, asset_type="whitepaper")
    desk.import_leads("email,job_title\nlena@alpenblick.de,Engineer\n", MONDAY + timedelta(days=5))
    now = MONDAY + timedelta(days=30)
    with desk.store.connect() as conn:
        breakdown = score_breakdown(conn, desk.lead_id(LENA, conn), desk.program, now)
    assert [(line.reason, line.points, line.count) for line in breakdown.fit_lines] == [
        ("Mid-sized company", 10, 1)
    ]  # the decision-maker rule stopped holding and explains nothing any more
    clicks, whitepaper = breakdown.behavior_lines  # largest first
    assert (whitepaper.reason, whitepaper.earned, whitepaper.points) == ("Whitepaper", 10, pytest.approx(5))
    assert (clicks.reason, clicks.count, clicks.earned) == ("email_click", 3, 15)
    lead = desk.lead(LENA)
    stored_now = lead.fit_score + decayed(
        lead.behavior_score, lead.behavior_scored_at, now, timedelta(days=30)
    )
    assert breakdown.total == pytest.approx(stored_now)
    summary = breakdown.as_dict()
    assert summary["score"] == round(stored_now, 2)
    assert summary["fit_lines"][0]["rule"] == "fit: 50 <= (lead.company_size or 0) <= 1000"


def test_a_lead_without_ledger_lines_has_an_empty_breakdown(desk: Desk) -> None:
    desk.import_leads("email\nnobody@example.org\n")
    with desk.store.connect() as conn:
        breakdown = score_breakdown(conn, desk.lead_id("nobody@example.org", conn), desk.program, MONDAY)
    assert (breakdown.total, breakdown.fit_lines, breakdown.behavior_lines) == (0, (), ())
