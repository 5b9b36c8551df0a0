"""What the database reads and counts for the report equals what the figures compute from the
plain rows: journeys built as the stage changes stream in, the moves per week and month counted by
the database, and touches walked in step with the cohort, on hand-made histories with skipped
stages, recycled and requalified leads, leads imported at a later stage and moves after ``now``."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection
from sqlalchemy.engine import Engine

from nurture.reports import balance
from nurture.reports.journeys import journeys
from nurture.reports.queries import read_changes, read_history, stage_moves, touches_by_lead
from nurture.reports.report import ProgramFacts, ReportOptions, build_report
from nurture.reports.rows import FUNNEL, History
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


def test_journeys_built_as_the_changes_stream_in_equal_those_of_the_plain_rows(written: Engine) -> None:
    with written.connect() as conn:
        streamed = read_history(conn, NOW)
        plain = History(streamed.leads, read_changes(conn, NOW), [], [], {})
    assert streamed.journeys is not None and len(streamed.journeys) == len(streamed.leads)
    assert streamed.journeys == journeys(plain)
    by_id = {j.lead.id: j for j in streamed.journeys}
    assert 6 not in by_id  # created after now
    assert (by_id[2].top, by_id[2].recorded("mql")) == (FUNNEL.index("customer"), False)
    assert by_id[3].requalified and by_id[3].first_at["mql"] == _at(2)
    assert by_id[4].first_at["mql"] == _at(1.5)  # imported at mql before its creation's record
    assert (by_id[5].stage, by_id[2].customer_deal) == ("mql", (1000.0, "EUR"))


@pytest.mark.parametrize("every", ["week", "month"])
@pytest.mark.parametrize("until", [NOW, _at(20.5)])
def test_the_databases_moves_per_period_equal_those_counted_from_the_rows(
    written: Engine, every: str, until: datetime
) -> None:
    with written.connect() as conn:
        counted = stage_moves(conn, NOW, until, every)
        changes = [c for moved in read_changes(conn, NOW).values() for c in moved]
    assert counted == balance.stage_moves(changes, until, every)
    assert sum(counted[0].values()) == sum(1 for c in changes if c.at < until)


@pytest.mark.parametrize("model", ["linear", "u_shaped", "time_decay"])
def test_the_report_read_in_step_equals_the_report_of_the_plain_rows(written: Engine, model: str) -> None:
    options = ReportOptions(now=NOW, attribution=model, by="country", every="week")
    facts = ProgramFacts()

    def report(history: History) -> Any:
        return json.loads(json.dumps(build_report(history, [], facts, options).as_json()))

    with written.connect() as conn:
        streamed = read_history(conn, NOW)
        streamed.stage_moves = stage_moves(conn, NOW, NOW, "week")
        in_step = report(streamed)
        touches = dict(touches_by_lead(conn, NOW))
        plain = History(
            streamed.leads, read_changes(conn, NOW), streamed.handoffs, streamed.enrollments, touches
        )
    assert in_step == report(plain)
    assert in_step["touches"]["mqls"] > 0 and in_step["attribution"]["credits"]
