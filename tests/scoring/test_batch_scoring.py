"""A batch of events scores exactly as the same events scored one at a time, in time order.

Scoring is set-based (one read of the leads, the daily caps read for the batch's days only, one
write of ledger lines and of scores), so this compares it with the simplest use there is: one
event per call. Two copies of the same leads get the same events; the ledgers and scores must match.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, select

from nurture.scoring import StoredEvent
from nurture.store.schema import events, handoffs, leads, score_ledger
from tests.sales.desk import MONDAY, Desk

# Zones on both sides of UTC and one with a half-hour offset, so local days and caps differ; None
# is the workspace's zone.
ZONES = ("Europe/Berlin", "America/New_York", "Asia/Kolkata", None)
KINDS = (
    "email_open",  # 1 point, at most 3 a day
    "email_click",
    "download",
    "page_view",
    "webinar_attended",
    "unsubscribe",  # negative
    "form_submit",  # no rule
)
NOW = MONDAY + timedelta(days=2)
_copies = itertools.count()


@dataclass(frozen=True)
class Event:
    lead: int  # index into the example's leads
    kind: str
    minutes: int  # after the start of the window, which straddles a weekend night
    machine: bool
    detail: str  # asset_type of a download, url of a page view


EVENTS = st.builds(
    Event,
    lead=st.integers(0, 2),
    kind=st.sampled_from(KINDS) | st.just("email_open"),  # opens often enough to meet their cap
    # Four days around NOW in steps of 17 minutes (ends past NOW: a clock ahead of ours), or the
    # six hours around one night, where local days of different zones part.
    minutes=st.integers(0, 4 * 24 * 60 // 17).map(lambda steps: steps * 17) | st.integers(1440, 1800),
    machine=st.sampled_from((False, False, False, True)),
    detail=st.sampled_from(
        ("whitepaper", "datasheet", "https://x.example/pricing", "https://x.example/blog")
    ),
)
START = NOW - timedelta(days=3, hours=5)


def add_leads(conn: Connection, zones: Sequence[str | None], copy: str) -> list[int]:
    ids = []
    for index, tz in enumerate(zones):
        email = f"lead{index}.{copy}@batch.example"
        created = MONDAY - timedelta(days=10)
        ids.append(
            int(
                conn.execute(
                    leads.insert()
                    .values(
                        email=email, email_domain="batch.example", timezone=tz, attributes={},
                        created_at=created, updated_at=created,
                    )
                    .returning(leads.c.id)
                ).scalar_one()
            )
        )  # fmt: skip
    return ids


def store_event(conn: Connection, lead_id: int, event: Event, at: datetime | None = None) -> StoredEvent:
    """Write the event as a recorder does and return what scoring is told about it."""
    at = at or START + timedelta(minutes=event.minutes)
    properties: dict[str, Any] = {"asset_type": event.detail} if event.kind == "download" else {}
    url = event.detail if event.kind == "page_view" else None
    machine = "scanner:test" if event.machine else None
    event_id = conn.execute(
        events.insert()
        .values(
            lead_id=lead_id, type=event.kind, occurred_at=at, received_at=NOW, url=url,
            machine_reason=machine, properties=properties,
        )
        .returning(events.c.id)
    ).scalar_one()  # fmt: skip
    return StoredEvent(int(event_id), lead_id, event.kind, at, properties, url, machine, None, None)


def minutes_after_start(at: datetime) -> int:
    return int((at - START).total_seconds() // 60)


def outcome(desk: Desk, lead_ids: list[int], event_ids: list[int]) -> tuple[list[Any], list[Any], list[Any]]:
    """Ledger lines, scores and handoffs in terms of the example (lead index, event position)."""
    lead_index = {lead_id: index for index, lead_id in enumerate(lead_ids)}
    event_index = {event_id: index for index, event_id in enumerate(event_ids)}
    s, l_ = score_ledger.c, leads.c
    with desk.store.connect() as conn:
        lines = sorted(
            (lead_index[r.lead_id], event_index.get(r.event_id), r.points, r.kind, r.rule, r.reason, r.at)
            for r in conn.execute(select(score_ledger).where(s.lead_id.in_(lead_ids), s.kind == "behavior"))
        )
        scores = [
            (lead_index[r.id], pytest.approx(r.behavior_score), pytest.approx(r.score), r.lifecycle_stage)
            for r in conn.execute(select(leads).where(l_.id.in_(lead_ids)).order_by(l_.id))
        ]
        routed = sorted(
            lead_index[r.lead_id]
            for r in conn.execute(select(handoffs).where(handoffs.c.lead_id.in_(lead_ids)))
        )
    return lines, scores, routed


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(zones=st.lists(st.sampled_from(ZONES), min_size=3, max_size=3), batch=st.lists(EVENTS, max_size=40))
def test_a_batch_scores_like_its_events_one_at_a_time_in_time_order(
    desk: Desk, zones: list[str | None], batch: list[Event]
) -> None:
    copy = next(_copies)
    # One at a time, as they happened (ties in the order given, which is the order of their ids).
    in_time_order = sorted(batch, key=lambda e: e.minutes)
    with desk.store.begin() as conn:
        single_leads = add_leads(conn, zones, f"single{copy}")
        batch_leads = add_leads(conn, zones, f"batch{copy}")
    single_ids = []
    for event in in_time_order:
        with desk.store.begin() as conn:
            stored = store_event(conn, single_leads[event.lead], event)
            desk.lifecycle.events_recorded(conn, [stored], NOW)
        single_ids.append(stored.id)
    with desk.store.begin() as conn:
        stored_batch = [store_event(conn, batch_leads[e.lead], e) for e in in_time_order]
        desk.lifecycle.events_recorded(conn, stored_batch, NOW)
    batch_ids = [e.id for e in stored_batch]

    single_lines, single_scores, single_routed = outcome(desk, single_leads, single_ids)
    batch_lines, batch_scores, batch_routed = outcome(desk, batch_leads, batch_ids)
    assert batch_lines == single_lines
    if all(e.kind != "unsubscribe" for e in batch):
        # Without negative points a score only rises, so the MQL moment cannot differ either.
        assert batch_scores == single_scores
        assert batch_routed == single_routed
    else:
        # A batch decides MQL on its final score, one event at a time on every step between.
        assert [s[:3] for s in batch_scores] == [s[:3] for s in single_scores]


def test_one_batch_caps_opens_per_day_of_the_leads_own_zone(desk: Desk) -> None:
    with desk.store.begin() as conn:
        (lead_id,) = add_leads(conn, ["America/New_York"], "cap")
        # 04:00-05:20 UTC is 23:00-00:20 in New York: four opens on one local day, two on the next
        # (in Berlin, the workspace's zone, all six would fall on one day).
        times = [
            datetime(2026, 3, 2, 4, 0, tzinfo=UTC) + timedelta(minutes=m) for m in (0, 10, 20, 30, 70, 80)
        ]
        stored = [
            store_event(conn, lead_id, Event(0, "email_open", minutes_after_start(at), False, ""))
            for at in times
        ]
        desk.lifecycle.events_recorded(conn, stored, NOW)
    with desk.store.connect() as conn:
        scored = conn.scalars(
            select(score_ledger.c.event_id)
            .where(score_ledger.c.lead_id == lead_id)
            .order_by(score_ledger.c.event_id)
        ).all()
    assert scored == [stored[i].id for i in (0, 1, 2, 4, 5)]


def test_the_cap_counts_stored_lines_from_the_first_to_the_last_instant_of_the_local_day(desk: Desk) -> None:
    # 8 March 2026 in New York has 23 hours: it starts at 05:00 UTC (EST) and ends at 04:00 UTC the
    # next day (EDT). Opens stored at its first and last instants count against its cap; those a
    # moment outside do not.
    first, last = datetime(2026, 3, 8, 5, 0, tzinfo=UTC), datetime(2026, 3, 9, 3, 59, 59, 999999, tzinfo=UTC)
    late = datetime(2026, 3, 10, tzinfo=UTC)
    with desk.store.begin() as conn:
        (lead_id,) = add_leads(conn, ["America/New_York"], "dst")
    outside = [first - timedelta(microseconds=1), last + timedelta(microseconds=1)]
    for at in [*outside, first, last]:  # stored by earlier batches
        with desk.store.begin() as conn:
            desk.lifecycle.events_recorded(conn, [store_event_at(conn, lead_id, at)], late)
    with desk.store.begin() as conn:
        noon, afternoon = datetime(2026, 3, 8, 17, tzinfo=UTC), datetime(2026, 3, 8, 18, tzinfo=UTC)
        batch = [store_event_at(conn, lead_id, noon), store_event_at(conn, lead_id, afternoon)]
        desk.lifecycle.events_recorded(conn, batch, late)
    with desk.store.connect() as conn:
        scored = set(conn.scalars(select(score_ledger.c.event_id).where(score_ledger.c.lead_id == lead_id)))
    assert batch[0].id in scored  # the third open of the day
    assert batch[1].id not in scored  # the fourth
    assert len(scored) == 5


def store_event_at(conn: Connection, lead_id: int, at: datetime) -> StoredEvent:
    return store_event(conn, lead_id, Event(0, "email_open", 0, False, ""), at=at)
