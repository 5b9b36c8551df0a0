"""Multi-day campaign runs, driven by moving the clock through ticks (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy.exc
from sqlalchemy import select, update

from nurture.store.schema import events, leads, messages
from tests.harness import Harness
from tests.program import TRIAL, write_program

MONDAY = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)  # 09:30 in Berlin
LEADS = (
    "email,first_name,country,timezone\n"
    "anna@alpenblick.de,Anna,DE,Europe/Berlin\n"
    "bob@example.com,Bob,US,America/New_York\n"
)


def days(n: float) -> timedelta:
    return timedelta(days=n)


def record_event(h: Harness, email: str, type_: str, step: str, at: datetime) -> None:
    with h.store.begin() as conn:
        lead_id, message_id = conn.execute(
            select(leads.c.id, messages.c.id)
            .join(messages, messages.c.lead_id == leads.c.id)
            .where(leads.c.email == email, messages.c.step_id == step)
        ).one()
        conn.execute(
            events.insert().values(
                lead_id=lead_id, type=type_, occurred_at=at, received_at=at, message_id=message_id,
                campaign_key="trial", step_id=step, properties={},
            )
        )  # fmt: skip


def test_a_lead_walks_the_whole_sequence_in_its_send_window(harness: Harness) -> None:
    h = harness
    h.import_leads(LEADS, MONDAY)
    report = h.tick(MONDAY)
    assert report.entered == {"trial": 1}  # Bob is not in DACH
    assert h.sent_steps("anna@alpenblick.de") == ["welcome"]
    assert h.enrollment("anna@alpenblick.de").due_at == MONDAY + days(2)

    h.tick(MONDAY + days(1))
    assert h.sent_steps("anna@alpenblick.de") == ["welcome"]

    h.tick(MONDAY + days(2))  # not opened: the reminder
    assert h.sent_steps("anna@alpenblick.de") == ["welcome", "reminder"]

    saturday = MONDAY + days(5)
    report = h.tick(saturday)  # the case study is due on a Saturday: held until Monday 09:00 Berlin
    assert report.deferred == {"send window": 1}
    next_monday_nine = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
    assert h.enrollment("anna@alpenblick.de").due_at == next_monday_nine

    h.tick(next_monday_nine)
    assert h.sent_steps("anna@alpenblick.de")[-1] == "case-study"

    h.tick(next_monday_nine + days(5))  # no click: the wait times out on Saturday, last call Monday
    h.tick(datetime(2026, 3, 16, 8, 0, tzinfo=UTC))
    enrollment = h.enrollment("anna@alpenblick.de")
    assert h.sent_steps("anna@alpenblick.de") == ["welcome", "reminder", "case-study", "last-call"]
    assert (enrollment.status, enrollment.exit_reason) == ("completed", "all steps done")
    with h.store.connect() as conn:
        assert conn.scalar(select(leads.c.score).where(leads.c.email == "anna@alpenblick.de")) == 10
    assert h.sent_steps("bob@example.com") == []


def test_an_open_takes_the_case_study_branch_and_a_click_ends_the_wait_early(harness: Harness) -> None:
    h = harness
    h.import_leads(LEADS, MONDAY)
    h.tick(MONDAY)
    record_event(h, "anna@alpenblick.de", "email_open", "welcome", MONDAY + timedelta(hours=3))
    h.tick(MONDAY + days(2))
    assert h.sent_steps("anna@alpenblick.de") == ["welcome", "case-study"]
    record_event(
        h,
        "anna@alpenblick.de",
        "email_click",
        "case-study",
        MONDAY
        + days(
            2,
        )
        + timedelta(hours=1),
    )
    h.tick(MONDAY + days(2) + timedelta(hours=2))
    assert h.sent_steps("anna@alpenblick.de") == ["welcome", "case-study", "last-call"]


def test_machine_opens_do_not_count_as_opened(harness: Harness) -> None:
    h = harness
    h.import_leads(LEADS, MONDAY)
    h.tick(MONDAY)
    record_event(h, "anna@alpenblick.de", "email_open", "welcome", MONDAY + timedelta(minutes=1))
    with h.store.begin() as conn:
        conn.execute(update(events).values(machine_reason="privacy_proxy"))
    h.tick(MONDAY + days(2))
    assert h.sent_steps("anna@alpenblick.de") == ["welcome", "reminder"]


def test_the_frequency_cap_defers_and_never_drops(harness: Harness) -> None:
    h = harness
    toml = h.root / "nurture.toml"
    toml.write_text(toml.read_text().replace("frequency_cap = 3", "frequency_cap = 1"), encoding="utf-8")
    h.import_leads(LEADS, MONDAY)
    h.tick(MONDAY)
    report = h.tick(MONDAY + days(2))
    assert report.deferred == {"frequency cap": 1}
    assert h.enrollment("anna@alpenblick.de").due_at == MONDAY + days(7)
    h.tick(MONDAY + days(7))
    assert h.sent_steps("anna@alpenblick.de") == ["welcome", "reminder"]


def test_exit_when_ends_the_enrollment_before_the_next_step(harness: Harness) -> None:
    h = harness
    h.import_leads(LEADS, MONDAY)
    h.tick(MONDAY)
    with h.store.begin() as conn:
        conn.execute(update(leads).where(leads.c.email == "anna@alpenblick.de").values(lifecycle_stage="mql"))
    report = h.tick(MONDAY + days(2))
    enrollment = h.enrollment("anna@alpenblick.de")
    assert enrollment.status == "exited" and "exit_when" in enrollment.exit_reason
    assert h.sent_steps("anna@alpenblick.de") == ["welcome"]
    assert sum(report.ended.values()) == 1


def test_an_unsubscribed_lead_leaves_at_once(harness: Harness) -> None:
    h = harness
    h.import_leads(LEADS, MONDAY)
    h.tick(MONDAY)
    with h.store.begin() as conn:
        conn.execute(update(leads).values(unsubscribed_at=MONDAY + timedelta(hours=1)))
    h.tick(MONDAY + days(2))
    enrollment = h.enrollment("anna@alpenblick.de")
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "unsubscribed")
    assert h.sent_steps("anna@alpenblick.de") == ["welcome"]


def test_repeated_and_simultaneous_ticks_send_each_step_once(harness: Harness) -> None:
    h = harness
    rows = "".join(f"lead{i}@firma{i}.de,L{i},DE,Europe/Berlin\n" for i in range(60))
    h.import_leads("email,first_name,country,timezone\n" + rows, MONDAY)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            h.tick(MONDAY)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    h.tick(MONDAY)
    sent = h.messages()
    assert len(sent) == 60
    assert len({(m.enrollment_id, m.step_id) for m in sent}) == 60


def test_the_database_refuses_a_second_send_of_a_step_in_one_enrollment(harness: Harness) -> None:
    h = harness
    h.import_leads(LEADS, MONDAY)
    h.tick(MONDAY)
    first = h.messages()[0]
    with pytest.raises(sqlalchemy.exc.IntegrityError), h.store.begin() as conn:
        conn.execute(
            messages.insert().values(
                lead_id=1, enrollment_id=first.enrollment_id, step_id="welcome", campaign_key="trial",
                kind="marketing", to_address=first.to_address, message_id="<dup@x>", status="queued",
                created_at=MONDAY,
            )
        )  # fmt: skip


def test_an_edited_wait_is_replanned_from_when_it_began(harness: Harness) -> None:
    h = harness
    h.import_leads(LEADS, MONDAY)
    h.tick(MONDAY)
    h.tick(MONDAY + days(2))  # reminder sent; now in wait-after-reminder (3d) since day 2
    write_program(h.root, TRIAL.replace("    wait: 3d", "    wait: 1d"))
    h.tick(MONDAY + days(3))  # the new 1d wait began on day 2: it is over, the case study is due
    assert h.sent_steps("anna@alpenblick.de")[-1] == "case-study"


def test_a_removed_step_moves_the_lead_to_the_next_surviving_one(harness: Harness) -> None:
    h = harness
    h.import_leads(LEADS, MONDAY)
    h.tick(MONDAY)
    h.tick(MONDAY + days(2))  # in wait-after-reminder
    edited = TRIAL.replace("  - id: wait-after-reminder\n    wait: 3d\n", "")
    write_program(h.root, edited)
    h.tick(MONDAY + days(2) + timedelta(hours=1))
    assert h.sent_steps("anna@alpenblick.de")[-1] == "case-study"


def test_tick_prints_what_it_did(harness: Harness, cli) -> None:  # type: ignore[no-untyped-def]
    harness.import_leads(LEADS, MONDAY)
    result = cli("tick", "--now", "2026-03-02T08:30:00Z")
    assert result.exit_code == 0, result.output
    assert "entered   trial: 1" in result.output
    assert "queued    trial/welcome: 1" in result.output
    quiet = cli("tick", "--now", "2026-03-02T09:00:00Z")
    assert "nothing was due" in quiet.output


def test_leads_show_explains_the_score_rule_by_rule(harness: Harness, cli) -> None:  # type: ignore[no-untyped-def]
    import json

    h = harness
    h.import_leads(LEADS, MONDAY)
    h.tick(MONDAY)
    h.tick(MONDAY + days(2))
    h.tick(MONDAY + days(5))
    h.tick(datetime(2026, 3, 9, 8, 0, tzinfo=UTC))
    h.tick(datetime(2026, 3, 14, 8, 0, tzinfo=UTC))  # the score step: +10 "finished the trial nurture"
    result = cli("leads", "show", "anna@alpenblick.de", "--json", env={"NURTURE_NOW": "2026-03-14T08:00:00Z"})
    profile = json.loads(result.stdout)
    (line,) = profile["score_breakdown"]["behavior_lines"]
    assert (line["kind"], line["points"], line["reason"]) == ("campaign", 10, "finished the trial nurture")
    assert profile["score"] == 10
    human = cli("leads", "show", "anna@alpenblick.de", env={"NURTURE_NOW": "2026-03-14T08:00:00Z"})
    assert "finished the trial nurture" in human.stdout
