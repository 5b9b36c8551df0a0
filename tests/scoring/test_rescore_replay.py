"""The rescore's fast replay gives exactly what scoring each event as it came in would give.

A generated history (fit and behaviour, capped opens, decay, a rule with a ``where``) is loaded,
then topped up with what a live store holds besides: a burst of opens on the current day beyond
the cap, a rescore line that already names one of today's opens, machine opens, an event from a
clock running ahead, lines of rules the model no longer has. The model is then edited (new
points, a negative rule, a new cap, a new fit rule, a shorter half-life) and every batch is
rescored once by the fast path and once by the plain one (:mod:`tests.scoring.straightforward_rescore`),
each in a transaction rolled back after: the ledger lines written, the scores stored and the
leads handed to the MQL rule must be the same to the last bit.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, insert, select
from sqlalchemy.engine import Engine

from nurture.definitions import Program, load_program
from nurture.scoring import rescore as fast
from nurture.scoring.rescore import RescoreReport, rescore
from nurture.scoring.synthetic import SYNTHETIC_MODEL_YAML, generate_history
from nurture.scoring.synthetic_store import load_history
from nurture.scoring.version import model_version
from nurture.store.schema import events, leads, score_ledger
from nurture.workspace import Workspace
from tests.scoring import straightforward_rescore as plain

BERLIN = ZoneInfo("Europe/Berlin")
# The edit: new points and caps, a negative rule and a capped twin of it, a fit rule narrowed and
# one added, a shorter half-life.
EDITS = (
    ("{event: email_open, points: 1, max_per_day: 3}", "{event: email_open, points: 2, max_per_day: 2}"),
    (
        "{event: email_click, points: 5}",
        "{event: email_click, points: -3}\n"
        "  - {event: email_click, points: 4, max_per_day: 1, reason: First click of the day}",
    ),
    ("points: 15, reason: Pricing page}", "points: 12, reason: Pricing page}"),
    (
        '{when: "50 <= (lead.company_size or 0) <= 1000", points: 10, reason: Mid-sized company}',
        '{when: "50 <= (lead.company_size or 0) <= 500", points: 10, reason: Mid-sized company}\n'
        "  - {when: \"lead.country == 'DE'\", points: 25, reason: Home market}",
    ),
    ("half_life: 30d", "half_life: 20d"),
)
SLA = """\
---
kind: SLA
name: marketing-sales
mql: {when: "lead.score >= 40"}
route_to: dach
accept_within: 4h
---
kind: SalesTeam
key: dach
manager: {name: Petra Vogel, email: petra.vogel@example.com}
reps:
  - {id: anna, name: Anna, email: anna@sales.example, territories: [DE, AT, CH],
     working_hours: {timezone: Europe/Berlin, days: mon-fri, hours: "08:00-18:00"}}
"""


def edited_program(workspace: Path) -> Program:
    model = SYNTHETIC_MODEL_YAML
    for old, new in EDITS:
        assert old in model
        model = model.replace(old, new)
    (workspace / "campaigns" / "program.yaml").write_text(model + SLA, encoding="utf-8")
    return load_program(Workspace(workspace))


def load(store: Engine) -> tuple[list[int], datetime]:
    """The history, topped up with a day's burst and the odd lines a live ledger holds."""
    history = generate_history(seed=11, leads=400)
    now = history.now
    with store.begin() as conn:
        ids = load_history(conn, history)
        extra: list[dict[str, Any]] = []
        for n, lead_id in enumerate(ids[::7]):
            for minute in range(n % 5 + 1):  # up to five opens this morning (local time), cap two
                at = now.replace(hour=6) + timedelta(minutes=minute * 13 + n % 11)
                extra.append(event(lead_id, "email_open", at, f"burst:{n}:{minute}"))
            extra.append(event(lead_id, "email_click", now - timedelta(hours=n % 30), f"click:{n}",
                               machine="link_scanner" if n % 3 == 0 else None))  # fmt: skip
            extra.append(
                event(lead_id, "email_open", now - timedelta(hours=2), f"proxy:{n}", machine="proxy")
            )
            if n % 4 == 0:
                extra.append(event(lead_id, "page_view", now + timedelta(hours=n % 9), f"ahead:{n}",
                                   url="https://taktwerk.example/pricing"))  # fmt: skip
        conn.execute(insert(events), extra)
        # A rescore earlier today already credited one of the burst's opens under the cap.
        first_open = conn.execute(
            select(events.c.id, events.c.lead_id).where(events.c.idempotency_key == "burst:3:0")
        ).one()
        lines = [
            line(
                first_open.lead_id, 1, "rescore", "behavior: email_open", now.replace(hour=7), first_open.id
            ),
            line(ids[5], 7, "fit", "fit: lead.industry == 'Retail'", now - timedelta(days=40)),
            line(ids[6], 9, "rescore", "behavior: form_submit", now - timedelta(days=3)),
            line(ids[6], 25, "manual", "manual", now - timedelta(days=2)),
            line(ids[8], -12.5, "recycle", "recycle", now - timedelta(days=9)),
        ]
        conn.execute(insert(score_ledger), lines)
    return ids, now


def event(lead_id: int, kind: str, at: datetime, key: str, *, machine: str | None = None,
          url: str | None = None) -> dict[str, Any]:  # fmt: skip
    return {"lead_id": lead_id, "type": kind, "occurred_at": at, "received_at": at, "url": url,
            "properties": {}, "idempotency_key": key, "machine_reason": machine}  # fmt: skip


def line(
    lead_id: int, points: float, kind: str, rule: str, at: datetime, event_id: int | None = None
) -> dict[str, Any]:
    return {"lead_id": lead_id, "points": points, "kind": kind, "rule": rule, "reason": rule,
            "event_id": event_id, "at": at}  # fmt: skip


def outcome(store: Engine, batch: Any, program: Program, ids: list[int], now: datetime) -> dict[str, Any]:
    """What one batch function writes for these leads (rolled back after)."""
    assert program.scoring_model is not None
    report = RescoreReport(model_version(program.scoring_model))
    handed: list[tuple[int, float]] = []

    def qualifier(conn: Connection, candidates: Any, at: datetime) -> int:
        handed.extend((lead.id, score) for lead, score in candidates)
        return len(candidates)

    with store.connect() as conn, conn.begin() as transaction:
        last_line = conn.scalar(select(func.max(score_ledger.c.id)))
        made = batch(conn, program, program.scoring_model, ids, now, report, 25, BERLIN, qualifier)
        written = conn.execute(
            select(score_ledger.c.lead_id, score_ledger.c.points, score_ledger.c.kind, score_ledger.c.rule,
                   score_ledger.c.reason, score_ledger.c.event_id, score_ledger.c.at)
            .where(score_ledger.c.id > last_line).order_by(score_ledger.c.id)
        ).all()  # fmt: skip
        stored = conn.execute(
            select(leads.c.id, leads.c.fit_score, leads.c.behavior_score, leads.c.score,
                   leads.c.behavior_scored_at).order_by(leads.c.id)
        ).all()  # fmt: skip
        transaction.rollback()
    largest = sorted(report.largest, reverse=True)[:10]
    return {
        "mqls": made, "handed": handed, "changed": report.changed, "lines": report.lines,
        "deferred": report.deferred, "largest": [(size, lead_id) for size, lead_id, _ in largest],
        "written": [tuple(row) for row in written], "stored": [tuple(row) for row in stored],
    }  # fmt: skip


def test_the_fast_rescore_writes_exactly_what_replaying_event_by_event_writes(
    store: Engine, workspace: Path
) -> None:
    ids, now = load(store)
    program = edited_program(workspace)
    for batch in (ids[:150], ids[150:], ids[3::40]):  # two runs of consecutive ids, and scattered leads
        expected = outcome(store, plain.rescore_batch, program, batch, now)
        assert outcome(store, fast._rescore_batch, program, batch, now) == expected
    everyone = outcome(store, plain.rescore_batch, program, ids, now)
    assert everyone == outcome(store, fast._rescore_batch, program, ids, now)
    # The comparison covers every part of a rescore, not an empty one.
    kinds = {(kind, event_id is not None) for _, _, kind, _, _, event_id, _ in everyone["written"]}
    assert {("fit", False), ("rescore", False), ("rescore", True)} <= kinds
    assert everyone["deferred"] > 0 and len(everyone["handed"]) == 25
    assert any(points < 0 for _, points, *_ in everyone["written"])


def test_a_rescore_after_the_fast_one_finds_nothing_to_change(store: Engine, workspace: Path) -> None:
    ids, now = load(store)
    program = edited_program(workspace)
    options: dict[str, Any] = {"then": lambda conn, candidates, at: len(candidates), "default_zone": BERLIN}
    first = rescore(store, program, now, batch=97, max_mqls=10_000, **options)
    assert (first.leads, first.complete) == (len(ids), True) and first.changed > len(ids) // 2
    assert rescore(store, program, now, batch=97, **options).changed == 0
