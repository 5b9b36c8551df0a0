"""Lead histories with a known truth, for testing the score's statistics and for the demo.

Each lead has fit fields and engagement events over its first weeks. Whether sales turn it into
an SQL depends on *features at the snapshot* (30 days after creation) with known weights: each
fit rule of :data:`SYNTHETIC_MODEL` as 0/1, each behaviour rule as its count of scored events
faded by the model's half-life to the snapshot. ``P(sql | handed over) = sigmoid(intercept +
sum(weight * feature))``. One behaviour rule (``email_open``) has weight 0: pure noise.

As in production, outcomes are only observed for leads sales see: a lead becomes an MQL when its
running score first reaches the threshold (:data:`SYNTHETIC_THRESHOLD`), and only MQLs are
accepted, rejected or converted. A lead that never qualifies has no outcome at all.

Pure and seeded: the same seed gives the same history. The ledger lines are the ones nurture's
scoring writes for these events under :data:`SYNTHETIC_MODEL` (same labels, caps and reasons),
so a store loaded with them (:mod:`nurture.scoring.synthetic_store`) reads like a real one.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import yaml

from nurture.definitions import ScoringModel
from nurture.scoring.rules import behavior_labels, behavior_reason, fit_labels, fit_reason

SYNTHETIC_THRESHOLD = 40
SYNTHETIC_MODEL_YAML = """\
kind: ScoringModel
name: default
behavior:
  - {event: email_open, points: 1, max_per_day: 3}
  - {event: email_click, points: 5}
  - {event: page_view, where: "'/pricing' in (event.url or '')", points: 15, reason: Pricing page}
  - {event: webinar_attended, points: 20}
fit:
  - when: "lead.job_title is matching('(?i)head|vp|director|chief|leiter')"
    points: 15
    reason: Decision maker
  - {when: "50 <= (lead.company_size or 0) <= 1000", points: 10, reason: Mid-sized company}
  - {when: "lead.email_domain in free_mail_domains", points: -10, reason: Free-mail address}
decay: {half_life: 30d}
"""
ZONE = ZoneInfo("Europe/Berlin")  # every lead's time zone
SNAPSHOT_AFTER = timedelta(days=30)  # the truth is stated at this moment after creation
ACTIVE_FOR = timedelta(days=45)  # events happen this long after creation (some after the snapshot)
INTERCEPT = -3.0
# Log-odds per unit of feature, in the model's rule order: behaviour rules, then fit rules.
TRUE_WEIGHTS = (0.0, 0.3, 0.9, 0.8, 1.2, 0.7, -0.9)
# Mean events per lead in its active weeks, per behaviour rule.
_EVENT_RATES = (5.0, 2.0, 0.8, 0.35)
_URLS = ("https://taktwerk.example/pricing", "https://taktwerk.example/blog")
_TITLES_KEEN = ("Head of Marketing", "VP Sales", "Marketingleiterin", "Director Operations")
_TITLES_OTHER = ("Engineer", "Consultant", "Assistant", "Student", "Analyst")
_REJECT_REASONS = ("no budget", "wrong contact", "bad timing")


@cache
def synthetic_model() -> ScoringModel:
    return ScoringModel.model_validate(yaml.safe_load(SYNTHETIC_MODEL_YAML))


def rule_labels() -> tuple[str, ...]:
    """The ledger labels of the model's rules, in the order of :data:`TRUE_WEIGHTS`."""
    model = synthetic_model()
    return (*behavior_labels(model.behavior), *fit_labels(model.fit))


@dataclass(frozen=True)
class SyntheticEvent:
    type: str
    at: datetime
    url: str | None
    rule: int | None  # the behaviour rule it scored under (None: capped, or no rule)


@dataclass(frozen=True)
class LedgerEntry:
    kind: str
    rule: str
    reason: str
    points: float
    at: datetime
    event: int | None  # index into the lead's events


@dataclass(frozen=True)
class StageMove:
    from_stage: str
    to_stage: str
    at: datetime
    reason: str
    actor: str


@dataclass(frozen=True)
class SyntheticLead:
    email: str
    first_name: str
    company: str
    job_title: str
    company_size: int
    country: str
    created_at: datetime
    events: tuple[SyntheticEvent, ...]
    ledger: tuple[LedgerEntry, ...]
    stages: tuple[StageMove, ...]
    features: tuple[float, ...]  # at the snapshot, in the order of TRUE_WEIGHTS
    log_odds: float  # of reaching SQL once handed over

    @property
    def email_domain(self) -> str:
        return self.email.rpartition("@")[2]

    @property
    def stage(self) -> str:
        return self.stages[-1].to_stage if self.stages else "lead"

    @property
    def probability(self) -> float:
        return 1.0 / (1.0 + math.exp(-self.log_odds))


@dataclass(frozen=True)
class SyntheticHistory:
    leads: tuple[SyntheticLead, ...]
    start: datetime
    now: datetime  # the end of the history: the moment the data is "read"
    threshold: float


def generate_history(
    seed: int,
    leads: int = 2_000,
    *,
    months: int = 12,
    start: datetime = datetime(2025, 1, 6, 9, 0, tzinfo=UTC),
    threshold: float = SYNTHETIC_THRESHOLD,
    model: ScoringModel | None = None,
    activity: float = 1.0,
    intercept: float = INTERCEPT,
) -> SyntheticHistory:
    """``leads`` leads created evenly over ``months`` months; the history ends a month later.

    ``model`` scores the history with another model's rules (the demo's): its rules for
    email_open, email_click, page_view and webinar_attended, and its fit rules reading the job
    title, the company size and free-mail domains, play the parts of :data:`SYNTHETIC_MODEL_YAML`'s
    rules (their labels and points go into the ledger; the true weights stay the same). Other rules
    of that model score nothing here. ``activity`` multiplies how many events leads cause and
    ``intercept`` sets the base log-odds, so that a model with a higher threshold still sees leads
    cross it and convert at a plausible rate.
    """
    rng = random.Random(seed)
    span = timedelta(days=30 * months)
    parts = _Parts.of(model or synthetic_model())
    made = tuple(
        _lead(rng, n, start + span * rng.random(), threshold, parts, activity, intercept)
        for n in range(leads)
    )
    return SyntheticHistory(
        tuple(sorted(made, key=lambda lead: lead.created_at)),
        start,
        start + span + timedelta(days=30),
        threshold,
    )


@dataclass(frozen=True)
class _Parts:
    """The rules playing each part of the true model: (label, reason, points) or None."""

    behaviour: tuple[tuple[str, str, int] | None, ...]
    fit: tuple[tuple[str, str, int] | None, ...]
    half_life: timedelta | None

    @classmethod
    def of(cls, model: ScoringModel) -> _Parts:
        labels = behavior_labels(model.behavior)

        def behaviour(event: str, url_rule: bool = False) -> tuple[str, str, int] | None:
            for rule, label in zip(model.behavior, labels, strict=True):
                if rule.event == event and (rule.where is not None) == url_rule:
                    return label, behavior_reason(rule), rule.points
            return None

        fit_names = fit_labels(model.fit)

        def fit(word: str) -> tuple[str, str, int] | None:
            for rule, label in zip(model.fit, fit_names, strict=True):
                if word in rule.when.source:
                    return label, fit_reason(rule), rule.points
            return None

        return cls(
            (behaviour("email_open"), behaviour("email_click"), behaviour("page_view", True),
             behaviour("webinar_attended")),
            (fit("job_title"), fit("company_size"), fit("free_mail_domains")),
            model.decay.half_life if model.decay else None,
        )  # fmt: skip


def _lead(
    rng: random.Random,
    n: int,
    created: datetime,
    threshold: float,
    parts: _Parts,
    activity: float,
    intercept: float,
) -> SyntheticLead:
    half_life = parts.half_life
    keen = rng.random() < 0.3
    size = rng.choice((10, 30, 120, 400, 800, 3000)) if rng.random() < 0.9 else 0
    free_mail = rng.random() < 0.2
    title = rng.choice(_TITLES_KEEN if keen else _TITLES_OTHER)
    fits = (keen, 50 <= size <= 1000, free_mail)
    events = _events(rng, created, activity)
    ledger: list[LedgerEntry] = [
        LedgerEntry("fit", part[0], part[1], part[2], created, None)
        for part, holds in zip(parts.fit, fits, strict=True)
        if holds and part is not None
    ]
    fit = sum(entry.points for entry in ledger)
    snapshot = created + SNAPSHOT_AFTER
    counts = [0.0] * len(parts.behaviour)
    for index, event in enumerate(events):
        part = parts.behaviour[event.rule] if event.rule is not None else None
        if event.rule is None or part is None:
            continue
        ledger.append(LedgerEntry("behavior", part[0], part[1], part[2], event.at, index))
        if event.at <= snapshot:
            counts[event.rule] += _faded(1.0, event.at, snapshot, half_life)
    features = (*counts, *(1.0 if holds else 0.0 for holds in fits))
    log_odds = intercept + sum(w * x for w, x in zip(TRUE_WEIGHTS, features, strict=True))
    mql_at = _qualified_at(fit, ledger, threshold, half_life)
    stages = _sales(rng, mql_at, log_odds, ledger, half_life) if mql_at is not None else []
    domain = "gmail.com" if free_mail else f"firma{n}.example"
    return SyntheticLead(
        f"lead{n}@{domain}", f"Lead{n}", f"Firma {n}", title, size, rng.choice(("DE", "AT", "CH")), created,
        tuple(events), tuple(ledger), tuple(stages), features, log_odds,
    )  # fmt: skip


def _events(rng: random.Random, created: datetime, activity: float) -> list[SyntheticEvent]:
    """Events over the lead's active weeks, with the behaviour rule each scores under (opens are
    capped at three a day, as the model says; views of other pages score nothing)."""
    found: list[SyntheticEvent] = []
    for rule, rate in enumerate(_EVENT_RATES):
        for _ in range(_poisson(rng, rate * activity)):
            at = created + ACTIVE_FOR * rng.random()
            if rule == 0:
                found.append(SyntheticEvent("email_open", at, None, 0))
            elif rule == 1:
                found.append(SyntheticEvent("email_click", at, None, 1))
            elif rule == 2:
                found.append(SyntheticEvent("page_view", at, _URLS[0], 2))
                if rng.random() < 0.5:
                    found.append(SyntheticEvent("page_view", at + timedelta(minutes=1), _URLS[1], None))
            else:
                found.append(SyntheticEvent("webinar_attended", at, None, 3))
    found.sort(key=lambda event: event.at)
    # A day's cap is decided in time order on the lead's own calendar: the fourth open of a day
    # is the one not scored.
    seen: dict[date, int] = {}
    ordered = []
    for event in found:
        if event.type == "email_open":
            day = event.at.astimezone(ZONE).date()
            seen[day] = seen.get(day, 0) + 1
            event = SyntheticEvent(event.type, event.at, None, 0 if seen[day] <= 3 else None)
        ordered.append(event)
    return ordered


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def _faded(points: float, at: datetime, moment: datetime, half_life: timedelta | None) -> float:
    if half_life is None or moment <= at:
        return points
    return float(points * 0.5 ** ((moment - at) / half_life))


def _qualified_at(
    fit: float, ledger: list[LedgerEntry], threshold: float, half_life: timedelta | None
) -> datetime | None:
    """The first moment the running score reaches the threshold (scores rise only at events)."""
    lines = sorted((e for e in ledger if e.kind == "behavior"), key=lambda e: e.at)
    for entry in lines:
        score = fit + sum(_faded(e.points, e.at, entry.at, half_life) for e in lines if e.at <= entry.at)
        if score >= threshold:
            return entry.at
    return None


def _sales(
    rng: random.Random,
    mql_at: datetime,
    log_odds: float,
    ledger: list[LedgerEntry],
    half_life: timedelta | None,
) -> list[StageMove]:
    """What sales did with an MQL: SQL with the true probability (through SAL), otherwise accepted
    and left, or rejected with a reason (and the behaviour points halved, as the SLA says)."""
    moves = [StageMove("lead", "mql", mql_at, "MQL rule held", "sla")]
    answered = mql_at + timedelta(days=rng.uniform(0.1, 3))
    if rng.random() < 1.0 / (1.0 + math.exp(-log_odds)):
        sql_at = answered + timedelta(days=rng.uniform(1, 30))
        moves += [
            StageMove("mql", "sal", answered, "accepted", "rep"),
            StageMove("sal", "sql", sql_at, "", "rep"),
        ]
        if rng.random() < 0.5:
            opportunity_at = sql_at + timedelta(days=rng.uniform(5, 30))
            moves.append(StageMove("sql", "opportunity", opportunity_at, "", "rep"))
            if rng.random() < 0.5:
                moves.append(
                    StageMove(
                        "opportunity",
                        "customer",
                        opportunity_at + timedelta(days=rng.uniform(10, 40)),
                        "",
                        "rep",
                    )
                )
    elif rng.random() < 0.4:
        moves.append(StageMove("mql", "sal", answered, "accepted", "rep"))
    else:
        moves.append(StageMove("mql", "recycled", answered, rng.choice(_REJECT_REASONS), "rep"))
        behaviour = sum(
            _faded(e.points, e.at, answered, half_life)
            for e in ledger
            if e.kind != "fit" and e.at <= answered
        )
        if behaviour:
            ledger.append(LedgerEntry("recycle", "sla: recycle", "rejected by sales: behaviour points halved",
                                      -behaviour / 2, answered, None))  # fmt: skip
    return moves
