"""Chasing handoffs on a moved clock: reminders before the deadline, the daily digest (email and
the team's webhook), escalation to a manager who owns the lead, and days off that move deadlines."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine

from nurture.store.schema import messages, webhook_deliveries
from tests.sales.desk import MONDAY, SLA, Desk, team, write_workspace

LEAD = "lena@alpenblick.de"
CHASING = SLA + 'remind_before: 1h\ndigest_at: "10:00"\n'


def workspace_with(workspace: Path, store: Engine, *, sla: str = CHASING, extra: str = "") -> Desk:
    sales_team = team(reps="anna:DE:30", extra=extra).replace(
        "routing: round_robin\n", "routing: round_robin\nwebhook: https://hooks.example/dach\n"
    )
    write_workspace(workspace, sla=sla, sales_team=sales_team)
    with (workspace / "nurture.toml").open("a", encoding="utf-8") as toml:
        toml.write('timezone = "Europe/Berlin"\nbase_url = "https://nurture.example"\n')
    desk = Desk(workspace, store)
    desk.import_leads("email,first_name,last_name,country\nlena@alpenblick.de,Lena,Wolf,DE\n")
    return desk


def sent(desk: Desk, kind: str) -> list[object]:
    with desk.store.connect() as conn:
        return list(conn.execute(select(messages).where(messages.c.kind == kind).order_by(messages.c.id)))


def test_a_reminder_comes_once_an_hour_of_working_time_before_the_deadline(
    workspace: Path, store: Engine
) -> None:
    desk = workspace_with(workspace, store)
    desk.make_mql(LEAD, MONDAY)  # 09:30 Berlin; due 13:30, reminder at 12:30 (11:30 UTC)
    assert desk.enforce(MONDAY + timedelta(hours=3) - timedelta(seconds=1)).reminded == 0
    assert desk.enforce(MONDAY + timedelta(hours=3)).reminded == 1
    assert desk.enforce(MONDAY + timedelta(hours=3, minutes=30)).reminded == 0
    (reminder,) = sent(desk, "sales_reminder")
    assert reminder.to_address == "anna@sales.example"  # type: ignore[attr-defined]
    assert "by Mon, Mar 2, 2026 1:30" in reminder.subject  # type: ignore[attr-defined]
    assert "/sales/lead/" in reminder.text  # type: ignore[attr-defined]


def test_the_daily_digest_comes_once_a_day_at_its_time_in_the_readers_zone(
    workspace: Path, store: Engine
) -> None:
    desk = workspace_with(workspace, store)
    desk.make_mql(LEAD, MONDAY)
    before = MONDAY + timedelta(minutes=29)  # 09:59 Berlin
    assert desk.enforce(before).digests == 0
    assert desk.enforce(MONDAY + timedelta(minutes=30)).digests == 1  # 10:00 Berlin: Anna
    assert desk.enforce(MONDAY + timedelta(hours=1)).digests == 0  # once a day
    (digest,) = sent(desk, "sales_digest")
    assert digest.to_address == "anna@sales.example"  # type: ignore[attr-defined]
    assert "Lena Wolf" in digest.text and "Accept by Mon, Mar 2, 2026 1:30" in digest.text  # type: ignore[attr-defined]
    with desk.store.connect() as conn:
        (hook,) = conn.execute(
            select(webhook_deliveries).where(webhook_deliveries.c.event == "handoffs.digest")
        ).all()
    body = json.loads(hook.body)
    assert (body["team"], body["open"], body["overdue"]) == ("dach-sales", 1, 0)
    assert body["handoffs"][0]["email"] == LEAD

    # Not accepted by 13:30: the only rep had it, so the manager owns it, with a deadline of their
    # own; Tuesday's digest tells Petra (overdue for the team, hers now) and nobody else.
    desk.enforce(MONDAY + timedelta(hours=5))
    tuesday = MONDAY + timedelta(days=1, minutes=30)
    assert desk.enforce(tuesday).digests == 1
    digest = sent(desk, "sales_digest")[-1]
    assert digest.to_address == "petra.vogel@example.com"  # type: ignore[attr-defined]
    assert desk.lead(LEAD).owner_rep_id == "manager:dach-sales"


def test_a_public_holiday_moves_the_deadline(workspace: Path, store: Engine) -> None:
    easter = ", holidays: {country: DE, subdivision: BY}"
    desk = workspace_with(workspace, store, extra="")
    sales_team = team(reps="anna:DE:30").replace(
        'hours: "08:00-18:00"}', 'hours: "08:00-18:00"' + easter + "}"
    )
    write_workspace(workspace, sla=CHASING, sales_team=sales_team)
    desk.reload()
    thursday = datetime(2026, 4, 2, 14, 0, tzinfo=UTC)  # 16:00 Berlin, before Good Friday and Easter
    desk.make_mql(LEAD, thursday)
    (handoff,) = desk.handoffs(LEAD)
    # 2h on Thursday, Friday 3 and Monday 6 April are public holidays: 2h more on Tuesday from 08:00.
    assert handoff.accept_due_at == datetime(2026, 4, 7, 8, 0, tzinfo=UTC)


def test_listed_days_off_move_the_deadline(workspace: Path, store: Engine) -> None:
    desk = workspace_with(workspace, store)
    sales_team = team(reps="anna:DE:30").replace(
        'hours: "08:00-18:00"}', 'hours: "08:00-18:00", holidays: [2026-03-03]}'
    )
    write_workspace(workspace, sla=CHASING, sales_team=sales_team)
    desk.reload()
    desk.make_mql(LEAD, MONDAY + timedelta(hours=7))  # 16:30 Berlin: 1.5h today, 2.5h on Wednesday
    (handoff,) = desk.handoffs(LEAD)
    assert handoff.accept_due_at == datetime(2026, 3, 4, 9, 30, tzinfo=UTC)
