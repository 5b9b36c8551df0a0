"""The scoring model's rules as plain functions: which rule an event earns, which fit rules hold.

Ledger lines name their rule by a *label* (``behavior: email_open``, ``fit: lead.company_size ...``)
that stays the same while the rule does, so caps per day and fit changes can be found in the ledger
without keeping any other state.

Conditions run in Jinja's sandbox, which costs tens of microseconds per call, and scoring runs
them for every event and every imported lead. Plain comparisons take the quick path
(:mod:`nurture.definitions.quick`); other conditions that read only lead fields (no time, no event, no
engagement) are remembered by the values of the fields they read, so a thousand leads with the same
job title cost one evaluation.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import TemplateSyntaxError, nodes
from jinja2.parser import Parser

from nurture.definitions import (
    BehaviorRule,
    Condition,
    ConditionError,
    EvaluationContext,
    FitRule,
    ScoringModel,
)
from nurture.definitions.condition_failures import ConditionFailures
from nurture.definitions.quick import Quick, quick
from nurture.templating import expression_environment

log = logging.getLogger(__name__)

LABEL_LENGTH = 500  # score_ledger.rule
# Names whose value is not a function of the lead's fields alone.
_CONTEXT_NAMES = frozenset({"now", "days_since", "hours_since", "opened", "clicked", "event"})
_MEMO_LIMIT = 100_000  # remembered outcomes per condition before the memo starts over
# Outcomes by condition source, then by the values of the lead fields it reads.
_memo: dict[str, dict[tuple[Any, ...], bool]] = {}


def behavior_label(rule: BehaviorRule) -> str:
    """The ledger's name for a behaviour rule alone (see :func:`behavior_labels` for a model's)."""
    label = f"behavior: {rule.event}"
    if rule.where is not None:
        label += f" where {rule.where.source}"
    return label[:LABEL_LENGTH]


def behavior_labels(rules: Sequence[BehaviorRule]) -> tuple[str, ...]:
    """The ledger's names for a model's behaviour rules, one per rule, in order.

    A rule keeps its plain label (:func:`behavior_label`) while no other rule shares it, so
    ledgers written before twins existed still read the same. Twins (same event, same ``where``)
    would otherwise share a daily cap and a line in the "why" table; each is told apart by its
    ``reason`` when that is unique among them, else by its position in the model.
    """
    return _told_apart([behavior_label(rule) for rule in rules], [rule.reason for rule in rules])


def _told_apart(plain: list[str], reasons: list[str | None]) -> tuple[str, ...]:
    shared = {label for label in plain if plain.count(label) > 1}
    labels: list[str] = []
    for position, (reason, label) in enumerate(zip(reasons, plain, strict=True), start=1):
        if label in shared:
            twins = [r for r, other in zip(reasons, plain, strict=True) if other == label]
            suffix = f" ({reason})" if reason and twins.count(reason) == 1 else f" #{position}"
            label = label[: LABEL_LENGTH - len(suffix)] + suffix
        labels.append(label)
    return tuple(labels)


def behavior_reason(rule: BehaviorRule) -> str:
    return (rule.reason or rule.event)[:LABEL_LENGTH]


def fit_label(rule: FitRule) -> str:
    """The ledger's name for a fit rule alone (see :func:`fit_labels` for a model's)."""
    return f"fit: {rule.when.source}"[:LABEL_LENGTH]


def fit_labels(rules: Sequence[FitRule]) -> tuple[str, ...]:
    """The ledger's names for a model's fit rules: twins with the same ``when`` are told apart as
    behaviour twins are, so each has its own line in the ledger and the "why" table."""
    return _told_apart([fit_label(rule) for rule in rules], [rule.reason for rule in rules])


def fit_reason(rule: FitRule) -> str:
    return (rule.reason or rule.when.source)[:LABEL_LENGTH]


def fit_reasons(rules: Sequence[FitRule]) -> dict[str, str]:
    """Each fit rule's reason by its label in the model."""
    return {label: fit_reason(rule) for rule, label in zip(rules, fit_labels(rules), strict=True)}


def counts_machine_events(rule: BehaviorRule) -> bool:
    """Whether the rule scores events caused by privacy proxies and link scanners (off by default)."""
    return bool(getattr(rule, "count_machine", False))


def holds(
    condition: Condition, lead: Mapping[str, Any], now: datetime, event: Mapping[str, Any] | None = None
) -> bool:
    """Whether a scoring condition holds; one that cannot be decided for this lead does not."""
    direct = quick(condition)
    if direct is not None:
        try:
            return bool(direct(lead, event))
        except Exception:  # a missing or odd value: the sandbox decides, and explains
            log.debug("quick path declined %r", condition.source)
    return _sandboxed(condition, lead, now, event)


# Scoring runs inside imports, ticks and the HTTP server alike; a rule that cannot be decided is
# counted here (logged the first time) and the count handed to whoever reports, once per rule.
_failures = ConditionFailures()


def take_scoring_failures() -> ConditionFailures:
    """The scoring conditions that failed since the last call, counted per rule."""
    global _failures
    taken, _failures = _failures, ConditionFailures()
    return taken


def _sandboxed(
    condition: Condition, lead: Mapping[str, Any], now: datetime, event: Mapping[str, Any] | None = None
) -> bool:
    try:
        return condition.evaluate(EvaluationContext(lead=lead, now=now, event=event))
    except ConditionError as exc:
        failures = _failures
        if not failures.counts[f"{exc.location}: condition {exc.source!r}"]:
            log.warning("scoring condition skipped (later failures of this rule are counted): %s", exc)
        failures.add(exc, str(lead.get("email") or "a lead"))
        return False


@dataclass(frozen=True)
class _Reads:
    fields: tuple[str, ...] | None  # None: the lead is read as a whole, or by computed names
    context: bool  # reads the time, the event or engagement as well
    event_only: bool = False  # reads named fields of the event (not its time), and nothing else


_reads: dict[str, _Reads] = {}


def lead_fields_read(condition: Condition) -> tuple[str, ...] | None:
    """The lead fields a condition reads (whatever else it reads); None when it cannot be told."""
    return _reads_of(condition).fields


def lead_fields_only(condition: Condition) -> tuple[str, ...] | None:
    """The lead fields a condition reads, when they are *all* it reads; None otherwise."""
    reads = _reads_of(condition)
    return None if reads.context else reads.fields


def reads_event_only(condition: Condition) -> bool:
    """Whether a condition reads nothing but named fields of the event other than its time (no
    lead, no clock, no engagement): its outcome then follows from those fields alone."""
    return _reads_of(condition).event_only


def _reads_of(condition: Condition) -> _Reads:
    found = _reads.get(condition.source)
    if found is None:
        found = _inspect(condition.source)
        _reads[condition.source] = found
    return found


def _inspect(source: str) -> _Reads:
    try:
        parser = Parser(expression_environment(), source, state="variable")
        tree = parser.parse_expression()
    except (TemplateSyntaxError, RecursionError):
        return _Reads(None, True)
    fields: set[str] | None = set()
    context = False
    event_only = True
    stack: list[tuple[nodes.Node, nodes.Node | None]] = [(tree, None)]
    while stack:
        node, parent = stack.pop()
        if isinstance(node, nodes.Name):
            context = context or node.name in _CONTEXT_NAMES
            if node.name == "event":
                event_only = event_only and _field_named(node, parent) not in (None, "occurred_at")
            elif node.name == "lead" or node.name in _CONTEXT_NAMES:
                event_only = False
            if node.name == "lead" and fields is not None:
                # Only lead.NAME and lead['NAME'] say which field is read; anything else
                # (lead | list, lead[expr]) may read them all.
                field = _field_named(node, parent)
                if field is None:
                    fields = None
                else:
                    fields.add(field)
        stack.extend((child, node) for child in node.iter_child_nodes())
    return _Reads(tuple(sorted(fields)) if fields is not None else None, context, event_only)


def _field_named(node: nodes.Name, parent: nodes.Node | None) -> str | None:
    """The field ``NAME.field`` or ``NAME['field']`` reads, if that is what ``parent`` does."""
    if isinstance(parent, nodes.Getattr) and parent.node is node:
        return parent.attr
    if (
        isinstance(parent, nodes.Getitem)
        and parent.node is node
        and isinstance(parent.arg, nodes.Const)
        and isinstance(parent.arg.value, str)
    ):
        return parent.arg.value
    return None


def _memo_key(lead: Mapping[str, Any], fields: Sequence[str]) -> tuple[Any, ...]:
    key: list[Any] = []
    for name in fields:
        value = lead.get(name)
        if isinstance(value, Mapping | list):
            value = json.dumps(value, sort_keys=True, default=str)
        key.append(value)
    return tuple(key)


class LeadConditions:
    """Evaluates conditions over leads, remembering outcomes of those that read lead fields only."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._plans: dict[Condition, tuple[Quick | None, tuple[str, ...] | None]] = {}

    def holds(self, condition: Condition, lead: Mapping[str, Any]) -> bool:
        plan = self._plans.get(condition)
        if plan is None:
            direct = quick(condition)
            plan = self._plans[condition] = (direct, lead_fields_only(condition) if direct is None else None)
        direct, fields = plan
        if direct is not None:
            try:
                return bool(direct(lead, None))
            except Exception:  # a missing or odd value: the sandbox decides, and explains
                return _sandboxed(condition, lead, self.now)
        if fields is None:
            return _sandboxed(condition, lead, self.now)
        memo = _memo.setdefault(condition.source, {})
        key = _memo_key(lead, fields)
        try:
            return memo[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable value the key could not flatten
            return _sandboxed(condition, lead, self.now)
        outcome = _sandboxed(condition, lead, self.now)
        if len(memo) >= _MEMO_LIMIT:
            memo.clear()
        memo[key] = outcome
        return outcome


@dataclass(frozen=True)
class ScoringRule:
    """A behaviour rule with what scoring needs of it at hand."""

    points: int
    where: Condition | None
    max_per_day: int | None
    count_machine: bool
    label: str
    reason: str
    # The quick path of `where`, looked up once: the rule is asked about every event of its type.
    quick_where: Quick | None = None

    @classmethod
    def of(cls, rule: BehaviorRule, label: str | None = None) -> ScoringRule:
        """``label``: the rule's name in its model (:func:`behavior_labels`), else its plain one."""
        return cls(
            rule.points, rule.where, rule.max_per_day, counts_machine_events(rule),
            label or behavior_label(rule), behavior_reason(rule),
            quick(rule.where) if rule.where is not None else None,
        )  # fmt: skip

    def where_holds(self, lead: Mapping[str, Any], now: datetime, event: Mapping[str, Any]) -> bool:
        """:func:`holds` for ``where`` (which must be set), without looking up its quick path."""
        assert self.where is not None
        direct = self.quick_where
        if direct is not None:
            try:
                return bool(direct(lead, event))
            except Exception:  # a missing or odd value: the sandbox decides, and explains
                log.debug("quick path declined %r", self.where.source)
        return _sandboxed(self.where, lead, now, event)


_scoring_rules: dict[int, tuple[ScoringModel, dict[str, list[ScoringRule]]]] = {}


def scoring_rules(model: ScoringModel) -> dict[str, list[ScoringRule]]:
    """The model's behaviour rules grouped by the event type they score (prepared once per model)."""
    known = _scoring_rules.get(id(model))
    if known is not None and known[0] is model:
        return known[1]
    grouped: dict[str, list[ScoringRule]] = {}
    for rule, label in zip(model.behavior, behavior_labels(model.behavior), strict=True):
        grouped.setdefault(rule.event, []).append(ScoringRule.of(rule, label))
    if len(_scoring_rules) > 16:
        _scoring_rules.clear()
    _scoring_rules[id(model)] = (model, grouped)
    return grouped
