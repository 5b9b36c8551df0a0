"""Two MQLs at the same instant never both take a rep's last free slot."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select

from nurture.scoring import StoredEvent
from nurture.store.schema import events, handoffs
from tests.sales.desk import MONDAY, Desk, team, write_workspace


def test_two_simultaneous_mqls_share_one_free_slot_fairly(desk: Desk) -> None:
    write_workspace(desk.root, sales_team=team(reps="anna:DE:1"))
    desk.reload()
    emails = ("a@one.de", "b@two.de")
    desk.import_leads("email,country\n" + "".join(f"{e},DE\n" for e in emails))
    for email in emails:
        desk.record(email, "demo_requested", MONDAY)  # 60 each: one more demo request makes an MQL
    lifecycle, now = desk.lifecycle, MONDAY + timedelta(minutes=1)
    inside_postgres = desk.store.dialect.name == "postgresql"
    barrier = threading.Barrier(2, timeout=30)
    errors: list[BaseException] = []

    def qualify(email: str) -> None:
        try:
            if not inside_postgres:
                barrier.wait()  # SQLite's writer lock is taken at BEGIN: meet before it
            with desk.store.begin() as conn:
                lead_id = desk.lead_id(email, conn)
                event_id = conn.execute(
                    events.insert().values(
                        lead_id=lead_id,
                        type="demo_requested",
                        occurred_at=now,
                        received_at=now,
                        properties={},
                    )
                ).inserted_primary_key[0]
                if inside_postgres:
                    barrier.wait()  # both transactions are open and about to route
                stored = StoredEvent(event_id, lead_id, "demo_requested", now, {}, None, None, None, None)
                lifecycle.events_recorded(conn, [stored], now)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=qualify, args=(email,)) for email in emails]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    with desk.store.connect() as conn:
        holders = sorted((r or "manager") for r in conn.scalars(select(handoffs.c.rep_id)))
    assert holders == ["anna", "manager"]
    assert {desk.stage(e) for e in emails} == {"mql"}
