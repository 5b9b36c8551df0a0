"""Reading the report's history as columns at its edges: many distinct texts, engagement of a
lead recorded after the journeys were read, enrollments after the report's moment, and the second
connection beside one that took SQLite's write lock."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from nurture.reports import queries
from nurture.reports.handoffs import handoffs_from_rows
from nurture.reports.report import ReportOptions
from nurture.reports.rows import Handoff
from nurture.reports.touch_columns import Touches, step_key
from nurture.reports.workspace_report import ReadOnce, workspace_report
from nurture.store.schema import enrollments, events, handoffs, leads, stage_changes

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=30)


def _lead(conn, lead_id: int, created: datetime) -> None:  # type: ignore[no-untyped-def]
    conn.execute(
        insert(leads).values(
            id=lead_id, email=f"lead{lead_id}@example.com", email_domain="example.com", lifecycle_stage="mql",
            attributes={}, created_at=created, updated_at=created,
        )
    )  # fmt: skip
    conn.execute(
        insert(stage_changes).values(
            lead_id=lead_id,
            from_stage="lead",
            to_stage="mql",
            at=created + timedelta(days=1),
            reason="t",
            actor="t",
        )
    )


def test_handoffs_of_many_reps_and_free_text_reasons_read_as_the_rows_say(store: Engine) -> None:
    rows = []
    with store.begin() as conn:
        for number in range(1, 91):  # more reps and reasons than a CASE codes in the database
            _lead(conn, number, T0)
            rep = None if number % 9 == 0 else f"rep-{number:03d}"
            status = ("rejected", "accepted", "pending")[number % 3]
            reason = f"too small: note {number}" if status == "rejected" else None
            assigned, answered = T0 + timedelta(days=2), T0 + timedelta(days=2, hours=number % 7)
            responded = None if status == "pending" else answered
            conn.execute(
                insert(handoffs).values(
                    id=number, lead_id=number, team_key="dach", rep_id=rep, status=status, reason=reason,
                    assigned_at=assigned, accept_due_at=assigned + timedelta(hours=4), responded_at=responded,
                )
            )  # fmt: skip
            rows.append(
                Handoff(
                    number,
                    number,
                    rep,
                    status,
                    assigned,
                    assigned + timedelta(hours=4),
                    responded,
                    reason,
                    "dach",
                )
            )
    with store.connect() as conn:
        journeys, _ = queries.read_journeys(conn, NOW, NOW, "month")
        read = queries.read_handoffs(conn, NOW, journeys)
    made = handoffs_from_rows(rows, {int(lead): row for row, lead in enumerate(journeys.lead_id)})
    assert len(read.reps.texts) > queries._CASE_LIMIT
    for field in ("id", "lead", "assigned", "due", "responded"):
        assert np.array_equal(getattr(read, field), getattr(made, field)), field
    for field, names in (("rep", "reps"), ("status", "statuses"), ("reason", "reasons")):
        as_read = [getattr(read, names).text(int(c)) for c in getattr(read, field)]
        as_made = [getattr(made, names).text(int(c)) for c in getattr(made, field)]
        assert as_read == as_made, field
    everyone = np.ones(len(journeys), dtype=bool)
    assert read.rejected_by_reason(everyone) == made.rejected_by_reason(everyone)
    assert len(read.rejected_by_reason(everyone)) == 30


def test_texts_only_of_handoffs_after_the_reports_moment_are_not_in_its_vocabularies(store: Engine) -> None:
    """The table's texts are looked up whole, then kept to the handoffs read, in text order."""
    later = NOW + timedelta(days=1)
    with store.begin() as conn:
        for number, (rep, team, status, assigned) in enumerate(
            [
                ("zoe", "dach", "accepted", T0 + timedelta(days=2)),
                ("anna", "dach", "pending", T0 + timedelta(days=3)),
                ("bert", "nordics", "reassigned", later),  # after the report's moment only
                (None, "dach", "rejected", T0 + timedelta(days=4)),
            ],
            start=1,
        ):
            _lead(conn, number, T0)
            conn.execute(
                insert(handoffs).values(
                    id=number, lead_id=number, team_key=team, rep_id=rep, status=status, assigned_at=assigned,
                    accept_due_at=assigned + timedelta(hours=4),
                )
            )  # fmt: skip
    with store.connect() as conn:
        journeys, _ = queries.read_journeys(conn, NOW, NOW, "month")
        read = queries.read_handoffs(conn, NOW, journeys)
    assert read.reps.texts == ["anna", "zoe"]
    assert read.teams.texts == ["dach"]
    assert read.statuses.texts == ["accepted", "pending", "rejected"]
    assert [read.reps.text(int(c)) for c in read.rep] == ["zoe", "anna", None]
    assert [read.statuses.text(int(c)) for c in read.status] == ["accepted", "pending", "rejected"]


def test_touches_of_a_lead_the_journeys_do_not_hold_are_left_out(store: Engine) -> None:
    with store.begin() as conn:
        _lead(conn, 1, T0)
        _lead(conn, 2, T0)
    with store.connect() as conn:
        journeys, _ = queries.read_journeys(conn, NOW, NOW, "month")
    # Lead 7 was recorded after the journeys were read (the touches' own snapshot holds it).
    read = Touches(
        np.array([1, 7, 2], dtype=np.int64),
        np.array([10, 20, 30], dtype=np.int64),
        np.array([True, False, False]),
        np.array([-1, 0, 0], dtype=np.int16),
    )
    placed = queries.placed(read, journeys)
    assert placed.lead.tolist() == [0, 1] and placed.at.tolist() == [10, 30]


def test_postgresqls_touches_are_put_in_order_when_they_do_not_come_so(
    store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL reads a block's touches without ORDER BY (each lead's come in index order): rows
    that came otherwise are put in order by lead, instant and id, ties of an instant included."""
    if store.dialect.name != "postgresql":
        pytest.skip("only PostgreSQL reads the touches without ORDER BY")
    at = {1: [3, 1, 1, 2], 2: [5, 4]}  # hours before T0; lead 1 clicks twice at once
    steps = []
    with store.begin() as conn:
        for number, hours in at.items():
            _lead(conn, number, T0)
            for hour in hours:
                steps.append(("trial", f"e{len(steps)}"))  # ids come in this order
                conn.execute(
                    insert(events).values(
                        lead_id=number, type="email_click", occurred_at=T0 - timedelta(hours=hour),
                        received_at=T0, campaign_key=steps[-1][0], step_id=steps[-1][1], properties={},
                    )
                )  # fmt: skip
    with store.connect() as conn:
        as_read = queries.read_touches(conn, NOW, steps)
        monkeypatch.setattr(queries, "_PG_TOUCHES", queries._PG_TOUCHES + " ORDER BY l.id DESC, t.id DESC")
        reordered = queries.read_touches(conn, NOW, steps)
    for read in (as_read, reordered):
        assert read.lead.tolist() == [1, 1, 1, 1, 2, 2]
        assert [read.step_of(int(code))[1] for code in read.step] == ["e0", "e3", "e1", "e2", "e4", "e5"]
        assert read.at.tolist() == sorted(as_read.at[:4].tolist()) + sorted(as_read.at[4:].tolist())


def test_the_first_campaign_of_a_lead_is_the_first_entered_by_the_reports_moment(store: Engine) -> None:
    with store.begin() as conn:
        _lead(conn, 1, T0)
        _lead(conn, 2, T0)
        for lead_id, campaign, entered in (
            (1, "later", NOW + timedelta(days=1)),
            (2, "trial", T0),
            (2, "webinar", NOW),
        ):
            conn.execute(
                insert(enrollments).values(
                    lead_id=lead_id,
                    campaign_key=campaign,
                    campaign_version="v1",
                    status="active",
                    entered_at=entered,
                )
            )
    with store.connect() as conn:
        journeys, _ = queries.read_journeys(conn, NOW, NOW, "month")
        first = queries.DatabaseFacts(conn, journeys.lead_id, NOW).first_campaigns()
    assert first == {1: "trial"}  # lead 1 entered a campaign only after the report's moment


def test_addresses_of_leads_recorded_or_erased_since_the_journeys_are_found_by_id(
    store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A block of addresses comes as one text; when its leads are not the journeys' (one recorded
    since, one erased since: another snapshot, on PostgreSQL), each is found by its id."""
    monkeypatch.setattr(queries, "_EMAIL_BLOCK", 3)
    with store.begin() as conn:
        for number in range(1, 8):
            _lead(conn, number, T0)
    with store.connect() as conn:
        journeys, _ = queries.read_journeys(conn, NOW, NOW, "month")
        facts = queries.DatabaseFacts(conn, journeys.lead_id, NOW)
        everyone = np.arange(7)
        assert facts.emails(everyone[::-1]) == [f"lead{n}@example.com" for n in range(7, 0, -1)]
        conn.execute(leads.delete().where(leads.c.id.in_([2, 7])))
        # As the journeys had them: 3 was recorded since, 2 and 7 erased since.
        held = queries.DatabaseFacts(conn, np.array([1, 2, 4, 5, 6, 7]), NOW)
        assert held.emails(np.arange(6)) == [
            "lead1@example.com", "", "lead4@example.com", "lead5@example.com", "lead6@example.com", "",
        ]  # fmt: skip
        # An address holding the separator of the block's text: that block is read by id.
        conn.execute(leads.update().where(leads.c.id == 5).values(email="odd\x1eone@example.com"))
        now_held = queries.DatabaseFacts(conn, np.array([1, 3, 4, 5, 6]), NOW)  # the leads there are
        assert now_held.emails(np.array([4, 3])) == ["lead6@example.com", "odd\x1eone@example.com"]


def test_the_report_beside_a_connection_holding_sqlites_write_lock(store: Engine, tmp_path: Path) -> None:
    with store.begin() as conn:
        _lead(conn, 1, T0)
    with store.connect() as conn:
        # A transaction of this connection is open (on SQLite it took the write lock): a second
        # connection that wanted the lock too would fail with "database is locked".
        conn.execute(leads.select().limit(1)).all()
        report = workspace_report(conn, None, tmp_path, ReportOptions(now=NOW))
    assert json.loads(json.dumps(report.as_json()))["period"]["leads"] == 1


def test_steps_the_program_no_longer_has_are_looked_up_before_any_block_is_read(
    store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Engagement with a step the program no longer has (only in the second block of leads): the
    steps engagement names are coded, after the program's, before the first block is read, so no
    block is read twice."""
    monkeypatch.setattr(queries, "_BLOCK_LEADS", 2)
    blocks: list[tuple[int, int]] = []
    read_block = queries._touch_block

    def counted(conn, now, steps, low, high):  # type: ignore[no-untyped-def]
        blocks.append((low, high))
        return read_block(conn, now, steps, low, high)

    monkeypatch.setattr(queries, "_touch_block", counted)
    steps_of = {1: "welcome", 2: "welcome", 3: "welcome", 4: "retired"}
    _engagements(store, steps_of)
    with store.connect() as conn:
        read = queries.read_touches(conn, NOW, [("trial", "welcome")])
    assert read.lead.tolist() == [1, 2, 3, 4]
    assert [read.step_of(int(code)) for code in read.step] == [("trial", steps_of[n]) for n in (1, 2, 3, 4)]
    assert read.steps.texts == [step_key("trial", "welcome"), step_key("trial", "retired")]
    assert len(blocks) == len(set(blocks)) == 2


def test_a_step_recorded_after_the_steps_were_looked_up_is_counted_without_credit(
    store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step neither the program nor the lookup knew (its engagement recorded in between): the
    touch is read, with no step."""
    monkeypatch.setattr(queries, "event_steps", lambda conn: iter([]))
    _engagements(store, {1: "welcome", 2: "retired"})
    with store.connect() as conn:
        read = queries.read_touches(conn, NOW, [("trial", "welcome")])
    assert read.lead.tolist() == [1, 2]
    assert read.step.tolist() == [0, -1]


def test_the_steps_engagement_names_are_every_distinct_pair_with_both_given(store: Engine) -> None:
    """One index search a pair: campaigns and their steps in order, NULLs of either left out."""
    named = [
        ("b", "x"),
        ("a", "z"),
        ("a", None),
        (None, "y"),
        ("a", "z"),
        ("a", "m"),
        ("c", None),
        ("b", "x"),
    ]
    _clicks_of_one_lead(store, named)
    with store.connect() as conn:
        assert list(queries.event_steps(conn)) == [("a", "m"), ("a", "z"), ("b", "x")]


def _clicks_of_one_lead(store: Engine, named: Sequence[tuple[str | None, str | None]]) -> None:
    """Lead 1, with a click of each campaign and step named, a minute apart, in this order."""
    with store.begin() as conn:
        _lead(conn, 1, T0)
        for minute, (campaign, step) in enumerate(named, start=1):
            conn.execute(
                insert(events).values(
                    lead_id=1, type="email_click", occurred_at=T0 + timedelta(minutes=minute),
                    received_at=T0, campaign_key=campaign, step_id=step, properties={},
                )
            )  # fmt: skip


def _engagements(store: Engine, steps_of: dict[int, str]) -> None:
    """A lead per number, each with one click of the trial campaign's step given."""
    with store.begin() as conn:
        for number, step in steps_of.items():
            _lead(conn, number, T0)
            conn.execute(
                insert(events).values(
                    lead_id=number, type="email_click", occurred_at=T0 + timedelta(hours=number),
                    received_at=T0 + timedelta(hours=number), campaign_key="trial", step_id=step,
                    properties={},
                )
            )  # fmt: skip


def test_each_engagement_gets_its_own_campaigns_step_whatever_other_campaigns_call_theirs(
    store: Engine,
) -> None:
    """Two campaigns with a step of the same name, a step known for one campaign only, an
    engagement with a campaign but no step, and one of a campaign the program lacks."""
    engaged = [
        ("trial", "welcome"),
        ("webinar", "welcome"),
        ("webinar", "follow-up"),
        ("trial", None),
        ("gone", "welcome"),
    ]
    _clicks_of_one_lead(store, engaged)
    known = [("webinar", "follow-up"), ("trial", "welcome"), ("webinar", "welcome")]
    with store.connect() as conn:
        read = queries.read_touches(conn, NOW, known)
    assert [read.step_of(int(code)) for code in read.step] == [
        ("trial", "welcome"), ("webinar", "welcome"), ("webinar", "follow-up"), ("", ""), ("gone", "welcome"),
    ]  # fmt: skip
    assert read.steps.texts[:3] == [step_key(campaign, step) for campaign, step in known]  # known first


def test_a_store_without_leads_reads_as_empty(store: Engine) -> None:
    """No lead up to the report's moment and no stage change: empty columns, not an error."""
    with store.begin() as conn:
        conn.execute(
            insert(leads).values(
                id=5, email="later@example.com", email_domain="example.com", lifecycle_stage="lead",
                attributes={}, created_at=NOW + timedelta(days=1), updated_at=NOW + timedelta(days=1),
            )
        )  # fmt: skip
    with store.connect() as conn:
        journeys, (inflow, outflow) = queries.read_journeys(conn, NOW, NOW, "month")
        assert len(journeys) == 0 and not inflow and not outflow
        assert len(queries.read_touches(conn, NOW, [])) == 0
        report = workspace_report(conn, None, Path("."), ReportOptions(now=NOW))
    assert report.cohort == 0 and report.funnel.stages[0].reached == 0


def test_touches_are_handed_over_once_and_a_readers_error_reaches_the_taker(store: Engine) -> None:
    with store.begin() as conn:
        _lead(conn, 1, T0)
    with store.connect() as conn:
        reading = queries.TouchReading(NOW, [])
        reading.join(conn)
        assert len(reading.result()) == 0
        with pytest.raises(RuntimeError, match="handed over already"):
            reading.result()
        failing = queries.TouchReading(NOW, [])
        with pytest.raises(ZeroDivisionError):
            failing.join(_Broken(conn))
        with pytest.raises(ZeroDivisionError):
            failing.result()


class _Broken:
    """A connection whose every read fails."""

    def __init__(self, conn: Any) -> None:
        self.dialect = conn.dialect

    def __getattr__(self, name: str) -> Any:
        raise ZeroDivisionError(name)


def _beside(call: Any) -> Future[Any]:
    """``call`` on a daemon thread: a waiter left hanging by a broken ReadOnce cannot hold the
    test run at its end."""
    running: Future[Any] = Future()

    def run() -> None:
        try:
            running.set_result(call())
        except BaseException as error:
            running.set_exception(error)

    threading.Thread(target=run, daemon=True).start()
    return running


def _slow_read(started: threading.Event, release: threading.Event, fails: bool = False) -> Any:
    def read(on: Any) -> str:
        started.set()
        assert release.wait(5)
        if fails:
            raise ZeroDivisionError(on)
        return f"read on {on}"

    return read


def test_a_read_offered_beside_is_made_there_and_the_taker_waits_for_it() -> None:
    """The handoffs beside the journeys: the second connection reads them while the first is
    busy, and the first, asking meanwhile, waits for that read instead of making its own."""
    started, release = threading.Event(), threading.Event()
    once = ReadOnce(_slow_read(started, release))
    side = _beside(lambda: once.offer("side"))
    assert started.wait(5)
    main = _beside(lambda: once.take("main"))
    with pytest.raises(TimeoutError):
        main.result(0.2)  # waiting on the side's read, not making one of its own
    release.set()
    assert main.result(5) == "read on side"
    assert side.result(5) is None
    once.offer("late")  # begun already: nothing is read again
    with pytest.raises(RuntimeError, match="handed over already"):
        once.take("main")


def test_a_read_nobody_began_is_made_by_the_taker_and_an_offer_after_does_nothing() -> None:
    reads: list[str] = []
    once = ReadOnce(lambda on: reads.append(on) or f"read on {on}")
    assert once.take("main") == "read on main"
    once.offer("side")
    assert reads == ["main"]


def test_the_error_of_a_read_beside_reaches_the_taker_waiting_for_it() -> None:
    started, release = threading.Event(), threading.Event()
    once = ReadOnce(_slow_read(started, release, fails=True))
    side = _beside(lambda: once.offer("side"))
    assert started.wait(5)
    main = _beside(lambda: once.take("main"))
    release.set()
    with pytest.raises(ZeroDivisionError):
        main.result(5)
    with pytest.raises(ZeroDivisionError):
        side.result(5)
