"""The breakers' figures: hand-computed tables for the verdict, and the window read from the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from nurture.guards import SendGuard, open_pauses, pause_sending, resume_sending
from nurture.guards.breakers import tally_handed_over, window_figures
from nurture.guards.rates import COMPLAINT, HARD_BOUNCE, BreakerLimits, WindowFigures, judge
from nurture.store.schema import events, leads, messages

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
LIMITS = BreakerLimits(hard_bounce_rate=0.02, complaint_rate=0.001, min_sends=200, window=timedelta(hours=1))


@pytest.mark.parametrize(
    ("handed_over", "bounces", "complaints", "verdict"),
    [
        (3, 1, 0, None),  # 33% of three emails: too few to judge
        (199, 50, 0, None),  # just under the minimum sample
        (200, 4, 0, None),  # exactly 2%: the limit is still tolerated
        (200, 5, 0, HARD_BOUNCE),  # 2.5%
        (1000, 1, 1, None),  # 0.1% complaints: at the limit
        (1000, 0, 2, COMPLAINT),  # 0.2%
        (1000, 21, 2, HARD_BOUNCE),  # both over: the bounce rate is named first
        (0, 0, 5, None),  # complaints with nothing sent in the window: no rate
    ],
)
def test_the_verdict(handed_over: int, bounces: int, complaints: int, verdict: str | None) -> None:
    trip = judge(WindowFigures(handed_over, bounces, complaints, NOW), LIMITS)
    assert (trip.reason if trip else None) == verdict


def test_a_limit_of_zero_is_never_judged() -> None:
    off = BreakerLimits(0, 0, 1, timedelta(hours=1))
    assert judge(WindowFigures(100, 100, 100, NOW), off) is None


def _lead(conn: Any) -> int:
    return int(
        conn.execute(
            leads.insert().values(
                email="a@b.example", email_domain="b.example", created_at=NOW, updated_at=NOW
            )
        ).inserted_primary_key[0]
    )


def _message(conn: Any, lead_id: int, n: int) -> int:
    return int(
        conn.execute(
            messages.insert().values(
                lead_id=lead_id, campaign_key="trial", step_id=f"s{n}", kind="marketing",
                to_address="a@b.example", message_id=f"<{n}@b.example>", status="sent", created_at=NOW,
            )
        ).inserted_primary_key[0]
    )  # fmt: skip


def test_the_window_counts_relay_refusals_bounce_reports_and_complaints(store: Engine) -> None:
    with store.begin() as conn:
        lead_id = _lead(conn)
        # 400 handed over 10 minutes ago: 390 accepted, 10 refused at once by the relay.
        tally_handed_over(
            conn, [("trial", "sent")] * 390 + [("trial", "bounced")] * 10, NOW - timedelta(minutes=10)
        )
        # 300 two hours ago: outside the window.
        tally_handed_over(conn, [("trial", "bounced")] * 300, NOW - timedelta(hours=2))
        for n, (type_, props, ago) in enumerate(
            [
                ("bounce", {"bounce_type": "hard"}, 5),  # a DSN read from the bounce mailbox
                ("bounce", {"bounce_type": "soft"}, 5),  # soft: not counted
                ("complaint", {}, 3),
                ("complaint", {}, 90),  # before the window
            ]
        ):
            conn.execute(
                events.insert().values(
                    lead_id=lead_id, type=type_, occurred_at=NOW - timedelta(minutes=ago), received_at=NOW,
                    message_id=_message(conn, lead_id, n), campaign_key="trial", properties=props,
                )
            )  # fmt: skip
        figures = window_figures(conn, NOW, LIMITS)["trial"]
    assert (figures.handed_over, figures.hard_bounces, figures.complaints) == (400, 11, 1)
    assert figures.hard_bounce_rate == pytest.approx(11 / 400)
    assert figures.complaint_rate == pytest.approx(1 / 400)


def test_after_a_resume_only_what_follows_counts(store: Engine) -> None:
    guard = SendGuard(LIMITS)
    with store.begin() as conn:
        tally_handed_over(
            conn, [("trial", "sent")] * 200 + [("trial", "bounced")] * 20, NOW - timedelta(minutes=5)
        )
        assert guard.trip_breakers(conn, NOW) == ["trial"]
        assert resume_sending(conn, "trial", actor="ops", now=NOW + timedelta(minutes=1))
        assert guard.trip_breakers(conn, NOW + timedelta(minutes=2)) == []  # judged afresh
        tally_handed_over(
            conn, [("trial", "sent")] * 200 + [("trial", "bounced")] * 20, NOW + timedelta(minutes=3)
        )
        assert guard.trip_breakers(conn, NOW + timedelta(minutes=4)) == ["trial"]
        assert [p.campaign_key for p in open_pauses(conn)] == ["trial"]


def test_campaigns_each_under_the_limit_can_together_pause_all_marketing_mail(store: Engine) -> None:
    limits = BreakerLimits(0.02, 0.001, 300, timedelta(hours=1))
    with store.begin() as conn:
        for key in ("a", "b"):  # 5% each, but only 200 emails: neither alone is judged
            tally_handed_over(
                conn, [(key, "sent")] * 190 + [(key, "bounced")] * 10, NOW - timedelta(minutes=5)
            )
        assert SendGuard(limits).trip_breakers(conn, NOW) == ["*"]
        (pause,) = open_pauses(conn)
    assert pause.scope == "all marketing mail" and pause.figures and pause.figures["handed_over"] == 400


def test_a_manual_pause_is_recorded_once(store: Engine) -> None:
    with store.begin() as conn:
        assert pause_sending(conn, "trial", actor="ops", now=NOW)
        assert not pause_sending(conn, "trial", actor="ops", now=NOW)
