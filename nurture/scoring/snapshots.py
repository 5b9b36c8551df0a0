"""Each lead's score at a snapshot moment, rebuilt from its ledger, and what became of it after.

The **snapshot** is a moment fixed for every lead the same way: by default 30 days after it was
created (``created+30d``), never chosen by what happened to the lead, because choosing "when it
became an MQL" would let the outcome pick the sample. ``mql`` takes the moment a lead first became
an MQL and so covers handed-over leads only.

The **score at the snapshot** is the sum of the ledger lines written up to that moment: fit lines
as written, every other line (behaviour, campaign, manual, recycle) faded by the model's half-life
to the snapshot. Nothing recorded later counts (no look-ahead).

The **outcome** is whether the lead reached the outcome stage, or a later one, by the end of the
horizon after the snapshot (a lead that got there before the snapshot counts as converted). A
lead whose horizon has not ended by ``now`` is left out: we cannot know yet.

Per rule of the model the **feature** is what the suggested points are fitted on: 1 or 0 for a fit
rule (its ledger lines sum to non-zero at the snapshot), and for a behaviour rule its faded points
divided by its points: the number of scored events, each faded to the snapshot.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, select

from nurture.definitions import ScoringModel
from nurture.durations import parse_duration
from nurture.scoring.ledger import decayed
from nurture.scoring.rules import behavior_labels, fit_labels
from nurture.store import bulk
from nurture.store.schema import leads, score_ledger, stage_changes

# The waterfall's order: reaching a stage means reaching it or any later one.
FUNNEL = ("subscriber", "lead", "mql", "sal", "sql", "opportunity", "customer")
OUTCOMES = ("sal", "sql", "opportunity", "customer")
CHUNK = 2_000  # leads read per round: memory stays bounded however many leads there are
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # never read: every stored moment is set
_AFTER_CREATED = re.compile(r"^created\s*\+\s*(\S+)$")


@dataclass(frozen=True)
class Question:
    """What a backtest asks: which outcome, how long after which snapshot."""

    outcome: str = "sql"
    horizon: timedelta = timedelta(days=90)
    at: str = "created+30d"  # or "mql"

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome {self.outcome!r} is not one of {', '.join(OUTCOMES)}")
        snapshot_delay(self.at)

    @property
    def describe(self) -> str:
        return f"{self.outcome} within {self.horizon.days}d of the snapshot ({self.at})"


def snapshot_delay(at: str) -> timedelta | None:
    """``created+30d`` → 30 days; ``mql`` → None; anything else is refused."""
    if at == "mql":
        return None
    match = _AFTER_CREATED.match(at.strip())
    if match is None:
        raise ValueError(f"snapshot {at!r}: write created+DURATION (e.g. created+30d) or mql")
    return parse_duration(match.group(1))


@dataclass(frozen=True)
class ModelRules:
    """The model's rules as features: labels, kinds and points, in the model's order."""

    labels: tuple[str, ...]
    kinds: tuple[str, ...]  # behavior | fit
    points: tuple[int, ...]
    half_life: timedelta | None

    @classmethod
    def of(cls, model: ScoringModel) -> ModelRules:
        return cls(
            (*behavior_labels(model.behavior), *fit_labels(model.fit)),
            ("behavior",) * len(model.behavior) + ("fit",) * len(model.fit),
            (*(rule.points for rule in model.behavior), *(rule.points for rule in model.fit)),
            model.decay.half_life if model.decay else None,
        )


@dataclass(frozen=True)
class LeadHistory:
    """What the store holds about one lead, for backtesting."""

    lead_id: int
    created_at: datetime
    ledger: Sequence[tuple[str, str, float, datetime]]  # kind, rule, points, at
    moves: Sequence[tuple[str, datetime, str]]  # to stage, at, reason


@dataclass(frozen=True, slots=True)  # a backtest holds one per lead
class Sample:
    """One lead at its snapshot."""

    lead_id: int
    at: datetime
    score: float
    converted: bool
    features: tuple[float, ...]
    handed_over: bool  # became an MQL by the end of the horizon: sales could see the outcome
    answer: str | None  # the first sales answer after the MQL: "accepted" or a reject reason


@dataclass
class Samples:
    """The samples of a backtest, and the leads left out, by why."""

    samples: Sequence[Sample] = field(default_factory=list)
    left_out: Counter[str] = field(default_factory=Counter)


def sample_of(history: LeadHistory, question: Question, rules: ModelRules, now: datetime) -> Sample | str:
    """The lead at its snapshot, or why it is left out."""
    delay = snapshot_delay(question.at)
    moves = sorted(history.moves, key=lambda move: move[1])
    mql_at = next((at for stage, at, _ in moves if stage == "mql"), None)
    if delay is None:
        if mql_at is None:
            return "never an MQL"
        at = mql_at
    else:
        at = history.created_at + delay
    end = at + question.horizon
    if end > now:
        return "horizon not over yet"
    reached = FUNNEL.index(question.outcome)
    converted = any(
        stage in FUNNEL and FUNNEL.index(stage) >= reached and when <= end for stage, when, _ in moves
    )
    score = 0.0
    by_rule: dict[str, float] = {}
    for kind, rule, points, when in history.ledger:
        if when > at:
            continue
        now_points = points if kind == "fit" else decayed(points, when, at, rules.half_life)
        score += now_points
        if kind in ("fit", "behavior", "rescore"):
            by_rule[rule] = by_rule.get(rule, 0.0) + now_points
    features = tuple(
        _feature(kind, by_rule.get(label, 0.0), points)
        for label, kind, points in zip(rules.labels, rules.kinds, rules.points, strict=True)
    )
    handed_over = mql_at is not None and mql_at <= end
    answer = None
    if mql_at is not None:
        for stage, when, reason in moves:
            if when >= mql_at and when <= end and stage in ("sal", "recycled", "disqualified", "sql"):
                answer = "accepted" if stage in ("sal", "sql") else (reason or "no reason given")
                break
    return Sample(history.lead_id, at, score, converted, features, handed_over, answer)


def _feature(kind: str, points_held: float, points: int) -> float:
    if kind == "fit":
        return 1.0 if abs(points_held) > 1e-9 else 0.0
    return points_held / points if points else 0.0


def samples_one_by_one(conn: Connection, question: Question, rules: ModelRules, now: datetime) -> Samples:
    """Every lead of the store at its snapshot, lead by lead with :func:`sample_of`: the plain
    statement of the definitions. The backtest reads them with
    :func:`nurture.scoring.snapshot_stream.read_samples`, which must agree with this."""
    samples: list[Sample] = []
    found = Samples(samples)
    for history in read_histories(conn):
        sample = sample_of(history, question, rules, now)
        if isinstance(sample, str):
            found.left_out[sample] += 1
        else:
            samples.append(sample)
    return found


def read_histories(conn: Connection, chunk: int = CHUNK, *, after: int = 0) -> Iterator[LeadHistory]:
    """Each lead's ledger and stage moves (leads with ids above ``after``, in id order, paged)."""
    while page := read_history_page(conn, after, chunk):
        yield from page
        after = page[-1].lead_id


def read_history_page(conn: Connection, after: int, chunk: int = CHUNK) -> list[LeadHistory]:
    """Up to ``chunk`` leads with ids above ``after``, with their ledgers and stage moves."""
    rows = conn.execute(
        select(leads.c.id, leads.c.created_at).where(leads.c.id > after).order_by(leads.c.id).limit(chunk)
    ).all()
    if not rows:
        return []
    first, last = int(rows[0][0]), int(rows[-1][0])
    read_instant = bulk.read_instant
    # Read at the driver's level: a backtest reads every ledger line of every lead.
    ledger: dict[int, list[tuple[str, str, float, datetime]]] = {}
    for lead_id, kind, rule, points, at in bulk.fetch_positional(
        conn,
        "SELECT lead_id, kind, rule, points, at FROM score_ledger WHERE lead_id BETWEEN :lo AND :hi",
        [first, last],
    ):
        ledger.setdefault(int(lead_id), []).append((kind, rule, float(points), read_instant(at) or _EPOCH))
    moves: dict[int, list[tuple[str, datetime, str]]] = {}
    for lead_id, to_stage, at, reason in bulk.fetch_positional(
        conn,
        "SELECT lead_id, to_stage, at, reason FROM stage_changes WHERE lead_id BETWEEN :lo AND :hi",
        [first, last],
    ):
        moves.setdefault(int(lead_id), []).append((to_stage, read_instant(at) or _EPOCH, reason))
    page = []
    for lead_id, created_at in rows:
        created = bulk.read_instant(created_at)
        assert created is not None
        page.append(
            LeadHistory(int(lead_id), created, ledger.get(int(lead_id), ()), moves.get(int(lead_id), ()))
        )
    return page


def read_lead_histories(conn: Connection, lead_ids: Sequence[int]) -> list[LeadHistory]:
    """The histories of these leads (in id order): a few leads whose prediction is refreshed."""
    ids = sorted(set(lead_ids))
    histories: list[LeadHistory] = []
    ledger_c, moves_c = score_ledger.c, stage_changes.c
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = conn.execute(select(leads.c.id, leads.c.created_at).where(leads.c.id.in_(chunk))).all()
        ledger: dict[int, list[tuple[str, str, float, datetime]]] = {}
        for lead_id, kind, rule, points, at in conn.execute(
            select(ledger_c.lead_id, ledger_c.kind, ledger_c.rule, ledger_c.points, ledger_c.at).where(
                ledger_c.lead_id.in_(chunk)
            )
        ):
            ledger.setdefault(int(lead_id), []).append(
                (kind, rule, float(points), bulk.read_instant(at) or _EPOCH)
            )
        moves: dict[int, list[tuple[str, datetime, str]]] = {}
        for lead_id, to_stage, at, reason in conn.execute(
            select(moves_c.lead_id, moves_c.to_stage, moves_c.at, moves_c.reason).where(
                moves_c.lead_id.in_(chunk)
            )
        ):
            moves.setdefault(int(lead_id), []).append((to_stage, bulk.read_instant(at) or _EPOCH, reason))
        for lead_id, created_at in sorted(rows):
            created = bulk.read_instant(created_at)
            assert created is not None
            history = LeadHistory(
                int(lead_id), created, ledger.get(int(lead_id), ()), moves.get(int(lead_id), ())
            )
            histories.append(history)
    return histories
