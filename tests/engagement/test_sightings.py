"""Opens and clicks written together, as the server batches concurrent requests."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine

from nurture.engagement import Sighting, record_sightings
from tests.engagement.conftest import BROWSER, NOW, Mailroom


def test_a_batch_stores_each_sighting_with_its_own_message(store: Engine, mailroom: Mailroom) -> None:
    lena, max_ = mailroom.lead("lena@alpenblick.de"), mailroom.lead("max@bergwerk.at", first_name="Max")
    first, second = mailroom.message(lena, step="welcome"), mailroom.message(max_, step="case-study")
    notification = mailroom.message(lena, kind="sales_notification")
    with store.begin() as conn:
        tracked = record_sightings(
            conn,
            None,
            [
                Sighting("open", first, NOW, BROWSER),
                Sighting("click", second, NOW, BROWSER, url="https://x.example/a"),
                Sighting("open", notification, NOW, BROWSER),
                Sighting("open", 987_654, NOW, BROWSER),
            ],
        )
    assert [(t.lead_id, t.type) if t else None for t in tracked] == [
        (lena, "email_open"), (max_, "email_click"), None, None,
    ]  # fmt: skip
    assert [(e.step_id, e.url) for e in mailroom.events()] == [
        ("welcome", None), ("case-study", "https://x.example/a"),
    ]  # fmt: skip


def test_a_sweep_within_one_batch_is_flagged_as_a_whole(store: Engine, mailroom: Mailroom) -> None:
    message_id = mailroom.message(mailroom.lead("lena@alpenblick.de"))
    at = NOW + timedelta(minutes=3)
    links = ["https://x.example/a", "https://x.example/b", "https://x.example/c"]
    with store.begin() as conn:
        record_sightings(
            conn,
            None,
            [
                Sighting("click", message_id, at + timedelta(milliseconds=100 * i), BROWSER, url=u)
                for i, u in enumerate(links)
            ],
        )
    assert {e.machine_reason for e in mailroom.events()} == {"scanner:burst"}
