"""An event ``id`` names one event: retries count once, a different event under the same id is a
conflict reported on its item, and ids that JSON cannot carry exactly are explained."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from nurture.engagement import RecordResult, record_events
from tests.engagement.conftest import NOW, Mailroom


def record(store: Engine, items: list[object]) -> RecordResult:
    with store.begin() as conn:
        return record_events(conn, None, items, NOW)


DOWNLOAD = {"type": "download", "email": "lena@alpenblick.de", "id": "crm-4711",
            "occurred_at": "2026-03-01T10:00:00Z", "asset_type": "whitepaper"}  # fmt: skip


def test_the_same_event_sent_again_is_already_recorded(store: Engine, mailroom: Mailroom) -> None:
    mailroom.lead("lena@alpenblick.de")
    assert record(store, [DOWNLOAD]).stored == 1
    # Written differently (the case of the address) but the same event.
    again = record(store, [{**DOWNLOAD, "email": "Lena@Alpenblick.de"}])
    assert (again.stored, again.duplicates, again.errors) == (0, 1, [])


def test_a_retry_without_a_time_is_the_same_event_though_received_later(
    store: Engine, mailroom: Mailroom
) -> None:
    mailroom.lead("lena@alpenblick.de")
    untimed = {k: v for k, v in DOWNLOAD.items() if k != "occurred_at"}
    record(store, [untimed])
    with store.begin() as conn:
        later = record_events(conn, None, [untimed], NOW.replace(hour=11))
    assert (later.duplicates, later.errors) == (1, [])


def test_a_different_event_under_a_stored_id_is_a_conflict(store: Engine, mailroom: Mailroom) -> None:
    mailroom.lead("lena@alpenblick.de")
    mailroom.lead("max@alpenblick.de")
    record(store, [DOWNLOAD])
    result = record(
        store,
        [
            {**DOWNLOAD, "asset_type": "case-study"},
            {**DOWNLOAD, "email": "max@alpenblick.de", "occurred_at": "2026-03-01T11:00:00Z"},
            {**DOWNLOAD, "type": "webinar_attended"},
            DOWNLOAD,
        ],
    )
    assert (result.stored, result.duplicates, result.rejected) == (0, 1, 3)
    assert [(e.index, e.field) for e in result.errors] == [(0, "id"), (1, "id"), (2, "id")]
    first = result.errors[0].message
    assert "'crm-4711' was recorded before for a different event (properties differ)" in first
    assert "(email, occurred_at differ)" in result.errors[1].message
    assert "(type differ)" in result.errors[2].message
    assert len(mailroom.events()) == 1


def test_a_conflict_within_one_batch_is_reported_on_the_later_item(store: Engine, mailroom: Mailroom) -> None:
    mailroom.lead("lena@alpenblick.de")
    result = record(store, [DOWNLOAD, {**DOWNLOAD, "url": "https://x.example/other"}, DOWNLOAD])
    assert (result.stored, result.duplicates) == (1, 1)
    assert [(e.index, e.field) for e in result.errors] == [(1, "id")]
    assert "(url differ)" in result.errors[0].message


def test_ids_json_cannot_carry_exactly_are_explained(store: Engine, mailroom: Mailroom) -> None:
    mailroom.lead("lena@alpenblick.de")
    base = {"type": "page_view", "email": "lena@alpenblick.de"}
    result = record(
        store,
        [
            {**base, "id": float("inf")},  # what the decoder makes of 1e400
            {**base, "id": 1e20},
            {**base, "id": 3.5},
            {**base, "idempotency_key": float("inf")},
            {**base, "message_id": float("inf")},
            {**base, "id": 4711},
        ],
    )
    messages = [(e.index, e.field, e.message) for e in result.errors]
    assert messages == [
        (0, "id", "is a number too large to keep exactly; send it as a string"),
        (1, "id", "is written with a fraction or an exponent (1e+20); send a whole number or a string"),
        (2, "id", "must be a string or a whole number, not 3.5"),
        (3, "idempotency_key", "is a number too large to keep exactly; send it as a string"),
        (4, "message_id", "is a number too large to keep exactly; send it as a string"),
    ]
    assert result.stored == 1
