"""What the database reads and counts for the report equals what the figures compute from the
plain rows: journeys built as the stage changes stream in, the moves per week and month counted by
the database, and touches walked in step with the cohort, on hand-made histories with skipped
stages, recycled and requalified leads, leads imported at a later stage and moves after ``now``."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Connection, select
from sqlalchemy.engine import Engine

from nurture.reports import balance, queries
from nurture.reports.instants import micros
from nurture.reports.journeys import STAGE_CODE, STAGES, journeys_from_rows
from nurture.reports.queries import DatabaseFacts, read_changes, read_recorded
from nurture.reports.recorded import Recorded
from nurture.reports.report import ProgramFacts, ReportOptions, build_report
from nurture.reports.rows import FUNNEL, Handoff, History, Lead, Touch
from nurture.store import bulk
from nurture.store.schema import events, handoffs, leads, stage_changes

T0 = datetime(2026, 3, 1, 23, 0, tzinfo=UTC)  # a Sunday, an hour before the week of 2 March
NOW = T0 + timedelta(days=60)
MOVES = ("lead", "mql", "recycled", "mql", "sal", "sql", "customer", "disqualified")


def _at(days: float) -> datetime:
    return T0 + timedelta(days=days)


# Each lead: (created, [(from, to, at days)...]); the lead row holds the last move's stage.
HAND_MADE: dict[int, tuple[float, list[tuple[str | None, str, float]]]] = {
    1: (0, []),  # never moved
    2: (0, [(None, "lead", 0), ("lead", "customer", 3)]),  # skipped every stage in between
    3: (1, [(None, "lead", 1), ("lead", "mql", 2), ("mql", "recycled", 5), ("recycled", "mql", 9),
            ("mql", "sal", 9.5)]),  # recycled and qualified again
    4: (2, [("mql", "sal", 1.5), ("sal", "sql", 4)]),  # imported at mql; its first move says so
    5: (0, [(None, "lead", 0), ("lead", "mql", 59.99), ("mql", "sal", 61)]),  # the last move after now
    6: (61, [(None, "lead", 30)]),  # created after now: not in the report, its move is in the balance
    7: (0.0417, [(None, "lead", 0.0417), ("lead", "disqualified", 31)]),  # 1 March 00:00 UTC
}  # fmt: skip


def _generated(count: int, seed: int) -> dict[int, tuple[float, list[tuple[str | None, str, float]]]]:
    chance = random.Random(seed)
    found: dict[int, tuple[float, list[tuple[str | None, str, float]]]] = {}
    for lead_id in range(100, 100 + count):
        created = chance.choice([chance.uniform(0, 50), float(chance.randint(0, 50))])
        at, previous, walk = created, None, []
        for stage in chance.sample(MOVES, chance.randint(0, 5)):
            walk.append((previous, stage, at))
            previous, at = stage, at + chance.choice([0.0, 1 / 24, chance.expovariate(1 / 5)])
        found[lead_id] = (created, walk)
    return found


def _write(conn: Connection, history: dict[int, tuple[float, list[tuple[str | None, str, float]]]]) -> None:
    chance = random.Random(7)
    for lead_id, (created, walk) in history.items():
        stage = walk[-1][1] if walk else "lead"
        conn.execute(
            leads.insert().values(
                id=lead_id, email=f"lead{lead_id}@example.com", email_domain="example.com", country="DE",
                lifecycle_stage=stage, attributes={}, created_at=_at(created), updated_at=_at(created),
            )
        )  # fmt: skip
        for number, (old, new, at) in enumerate(walk):
            amount = 1000.0 * number if new == "customer" else None
            conn.execute(
                stage_changes.insert().values(
                    lead_id=lead_id, from_stage=old, to_stage=new, at=_at(at), reason="t", actor="t",
                    amount=amount, currency="EUR" if amount else None,
                )
            )  # fmt: skip
            if new == "mql":
                conn.execute(
                    handoffs.insert().values(
                        lead_id=lead_id, team_key="dach", rep_id="anna", status="accepted",
                        assigned_at=_at(at),
                        accept_due_at=_at(at + 0.2), responded_at=_at(at + 0.1),
                    )
                )  # fmt: skip
        for _ in range(chance.randint(0, 6)):
            conn.execute(
                events.insert().values(
                    lead_id=lead_id, type=chance.choice(["email_open", "email_click"]),
                    occurred_at=_at(created + chance.uniform(0, 20)), received_at=_at(created),
                    campaign_key="trial", step_id=chance.choice(["welcome", "tip"]),
                    machine_reason=chance.choice([None, None, "privacy_proxy"]), properties={},
                )
            )  # fmt: skip


@pytest.fixture
def written(store: Engine) -> Engine:
    with store.begin() as conn:
        _write(conn, {**HAND_MADE, **_generated(150, seed=20260301)})
    return store


def _plain(conn: Connection) -> History:
    """The history up to ``NOW`` read row by row, the way a reader of the tables would."""
    instant = bulk.read_instant
    found_leads = {
        row.id: Lead(
            row.id, row.email, instant(row.created_at), row.lifecycle_stage, row.owner_rep_id, row.country
        )
        for row in conn.execute(select(leads).where(leads.c.created_at <= NOW).order_by(leads.c.id))
    }
    found_handoffs = []
    for row in conn.execute(select(handoffs).where(handoffs.c.assigned_at <= NOW).order_by(handoffs.c.id)):
        responded, status = instant(row.responded_at), row.status
        if responded is not None and responded > NOW:
            responded, status = None, "pending"
        found_handoffs.append(
            Handoff(
                row.id, row.lead_id, row.rep_id, status, instant(row.assigned_at), instant(row.accept_due_at),
                responded, row.reason, row.team_key,
            )
        )  # fmt: skip
    touches: dict[int, list[Touch]] = {}
    for row in conn.execute(
        select(events)
        .where(events.c.occurred_at <= NOW, events.c.machine_reason.is_(None))
        .order_by(events.c.lead_id, events.c.occurred_at, events.c.id)
    ):
        at = instant(row.occurred_at)
        assert at is not None
        touches.setdefault(row.lead_id, []).append(
            Touch(row.lead_id, at, row.type, row.campaign_key, row.step_id)
        )
    return History(found_leads, read_changes(conn, NOW), found_handoffs, [], touches)


def test_journeys_read_as_columns_equal_those_of_the_plain_rows(written: Engine) -> None:
    with written.connect() as conn:
        read = read_recorded(conn, NOW, NOW, "week", None, None).journeys
        plain = _plain(conn)
    made = journeys_from_rows(plain.leads.values(), plain.changes)
    for name in ("lead_id", "created", "stage", "since", "first_at", "arrivals", "top", "requalified"):
        assert np.array_equal(getattr(read, name), getattr(made, name)), name
    assert (read.opportunity_deals, read.customer_deals) == (made.opportunity_deals, made.customer_deals)
    row = {int(lead): row for row, lead in enumerate(read.lead_id)}
    assert 6 not in row  # created after now
    assert (read.top[row[2]], read.recorded("mql")[row[2]]) == (FUNNEL.index("customer"), False)
    assert read.requalified[row[3]] and read.first_at[row[3], STAGE_CODE["mql"]] == micros(_at(2))
    assert read.first_at[row[4], STAGE_CODE["mql"]] == micros(_at(1.5))  # imported at mql before its creation
    assert (STAGES[read.stage[row[5]]], read.customer_deals[row[2]]) == ("mql", (1000.0, "EUR"))


@pytest.mark.parametrize("every", ["week", "month"])
@pytest.mark.parametrize("until", [NOW, _at(20.5)])
def test_the_moves_per_period_read_as_columns_equal_those_counted_from_the_rows(
    written: Engine, every: str, until: datetime
) -> None:
    with written.connect() as conn:
        counted = read_recorded(conn, NOW, until, every, None, None).moves
        changes = [c for moved in read_changes(conn, NOW).values() for c in moved]
    assert counted == balance.stage_moves(changes, until, every)
    assert sum(counted[0].values()) == sum(1 for c in changes if c.at < until)


@pytest.mark.parametrize("model", ["linear", "u_shaped", "time_decay"])
def test_the_report_read_as_columns_equals_the_report_of_the_plain_rows(written: Engine, model: str) -> None:
    options = ReportOptions(now=NOW, attribution=model, by="country", every="week")
    facts = ProgramFacts()

    def report(history: History | Recorded) -> Any:
        return json.loads(json.dumps(build_report(history, [], facts, options).as_json()))

    with written.connect() as conn:
        in_columns = report(read_recorded(conn, NOW, NOW, "week", None, None))
        plain = _plain(conn)
    assert in_columns == report(plain)
    assert in_columns["touches"]["mqls"] > 0 and in_columns["attribution"]["credits"]


def test_lead_facts_read_for_the_figures_equal_the_rows(written: Engine) -> None:
    with written.begin() as conn:  # an address holding the separator SQLite's block read uses
        conn.execute(leads.update().where(leads.c.id == 3).values(email="odd\x1ename@example.com"))
    with written.connect() as conn:
        journeys = read_recorded(conn, NOW, NOW, "week", None, None).journeys
        facts = DatabaseFacts(conn, journeys.lead_id, NOW)
        plain = _plain(conn)
        rows = np.array([0, 2, 5, len(journeys) - 1, 1], dtype=np.int64)
        emails = facts.emails(rows)
        countries = facts.values("country")
    assert emails == [plain.leads[int(journeys.lead_id[row])].email for row in rows]
    assert "odd\x1ename@example.com" in emails
    assert countries == [plain.leads[int(lead)].country for lead in journeys.lead_id]


def test_journeys_and_touches_read_in_blocks_of_leads_equal_those_read_at_once(
    written: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with written.connect() as conn:
        whole = read_recorded(conn, NOW, NOW, "week", None, None)
        whole_touches = whole.touches  # read when first asked for: before the blocks shrink
        monkeypatch.setattr(queries, "_BLOCK_LEADS", 7)  # blocks of 7 leads, ids of later leads between
        blocks = read_recorded(conn, NOW, NOW, "week", None, None)
        block_touches = blocks.touches
    for name in ("lead_id", "created", "stage", "since", "first_at", "arrivals", "top", "requalified"):
        assert np.array_equal(getattr(blocks.journeys, name), getattr(whole.journeys, name)), name
    assert blocks.journeys.customer_deals == whole.journeys.customer_deals
    assert blocks.moves == whole.moves  # moves of the lead created after now included
    for name in ("lead", "at", "sent", "step"):
        assert np.array_equal(getattr(block_touches, name), getattr(whole_touches, name)), name
    assert len(whole_touches) > 0
