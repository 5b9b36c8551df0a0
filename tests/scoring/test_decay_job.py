"""The decay job keeps stored scores of quiet leads current; scoring without a model does nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from nurture.scoring import decay_scores, on_events_recorded, on_leads_changed
from tests.sales.desk import LEADS, MONDAY, Desk

LENA = "lena@alpenblick.de"


def test_the_decay_job_fades_stored_scores_in_passes(desk: Desk) -> None:
    desk.import_leads(LEADS)
    desk.record(LENA, "webinar_attended", MONDAY)
    desk.record("max@bergwerk.at", "webinar_attended", MONDAY)
    later = MONDAY + timedelta(days=30)
    with desk.store.begin() as conn:
        last = desk.lifecycle.decay_scores(conn, later, limit=1)
        assert last == desk.lead_id(LENA, conn)  # one lead per call here; go on from its id
        assert desk.lifecycle.decay_scores(conn, later, limit=1, after_id=last) == desk.lead_id(
            "max@bergwerk.at", conn
        )
        assert desk.lifecycle.decay_scores(conn, later, after_id=desk.lead_id("max@bergwerk.at", conn)) == 0
    lead = desk.lead(LENA)
    assert (lead.behavior_score, lead.score, lead.behavior_scored_at) == (
        pytest.approx(10),
        pytest.approx(35),
        later,
    )
    assert lead.updated_at == MONDAY  # fading is not a change to the lead
    assert len(desk.ledger(LENA)) == 3  # and writes no ledger lines


def test_recently_scored_leads_are_left_alone(desk: Desk) -> None:
    desk.import_leads(LEADS)
    desk.record(LENA, "webinar_attended", MONDAY)
    with desk.store.begin() as conn:
        assert desk.lifecycle.decay_scores(conn, MONDAY + timedelta(hours=12)) == 0


def test_without_a_program_or_scoring_model_nothing_is_scored(desk: Desk) -> None:
    desk.import_leads(LEADS)
    before = desk.ledger(LENA)
    with desk.store.begin() as conn:
        on_leads_changed(conn, None, [desk.lead_id(LENA, conn)], MONDAY)
        on_events_recorded(conn, None, [], MONDAY, default_zone=desk.lifecycle.sales.default_zone)
        assert decay_scores(conn, None, MONDAY) == 0
    assert desk.ledger(LENA) == before
