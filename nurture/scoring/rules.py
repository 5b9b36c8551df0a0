"""The scoring model's rules as plain functions: which rule an event earns, which fit rules hold.

Ledger lines name their rule by a *label* (``behavior: email_open``, ``fit: lead.company_size ...``)
that stays the same while the rule does, so caps per day and fit changes can be found in the ledger
without keeping any other state.

Conditions run in Jinja's sandbox, which costs tens of microseconds per call. Lead imports recompute
fit for every row, so a condition that reads only lead fields (no time, no event, no engagement) is
memoised on the values of the fields it reads: a thousand leads with the same job title cost one
evaluation.
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

from nurture.definitions import BehaviorRule, Condition, ConditionError, EvaluationContext, FitRule
from nurture.templating import expression_environment

log = logging.getLogger(__name__)

LABEL_LENGTH = 500  # score_ledger.rule
# Names whose value is not a function of the lead's fields alone.
_CONTEXT_NAMES = frozenset({"now", "days_since", "hours_since", "opened", "clicked", "event"})
_MEMO_LIMIT = 100_000  # remembered outcomes per condition before the memo starts over


def behavior_label(rule: BehaviorRule) -> str:
    """The ledger's name for a behaviour rule."""
    label = f"behavior: {rule.event}"
    if rule.where is not None:
        label += f" where {rule.where.source}"
    return label[:LABEL_LENGTH]


def behavior_reason(rule: BehaviorRule) -> str:
    return (rule.reason or rule.event)[:LABEL_LENGTH]


def fit_label(rule: FitRule) -> str:
    """The ledger's name for a fit rule."""
    return f"fit: {rule.when.source}"[:LABEL_LENGTH]


def fit_reason(rule: FitRule) -> str:
    return (rule.reason or rule.when.source)[:LABEL_LENGTH]


def counts_machine_events(rule: BehaviorRule) -> bool:
    """Whether the rule scores events caused by privacy proxies and link scanners (off by default)."""
    return bool(getattr(rule, "count_machine", False))


def holds(condition: Condition, context: EvaluationContext) -> bool:
    """Whether a scoring condition holds; one that cannot be decided for this lead does not."""
    try:
        return condition.evaluate(context)
    except ConditionError as exc:
        log.warning("scoring condition skipped: %s", exc)
        return False


@dataclass(frozen=True)
class _Purity:
    fields: tuple[str, ...] | None  # None: the condition reads more than lead fields


_purity: dict[str, _Purity] = {}


def lead_fields_only(condition: Condition) -> tuple[str, ...] | None:
    """The lead fields a condition reads, when they are *all* it reads; None otherwise."""
    found = _purity.get(condition.source)
    if found is None:
        found = _Purity(_pure_fields(condition.source))
        _purity[condition.source] = found
    return found.fields


def _pure_fields(source: str) -> tuple[str, ...] | None:
    try:
        parser = Parser(expression_environment(), source, state="variable")
        tree = parser.parse_expression()
    except (TemplateSyntaxError, RecursionError):
        return None
    fields: set[str] = set()
    stack: list[tuple[nodes.Node, nodes.Node | None]] = [(tree, None)]
    while stack:
        node, parent = stack.pop()
        if isinstance(node, nodes.Name):
            if node.name in _CONTEXT_NAMES:
                return None
            if node.name == "lead":
                # Only lead.NAME and lead['NAME'] say which field is read; anything else
                # (lead | list, lead[expr]) may read them all.
                if isinstance(parent, nodes.Getattr) and parent.node is node:
                    fields.add(parent.attr)
                elif (
                    isinstance(parent, nodes.Getitem)
                    and parent.node is node
                    and isinstance(parent.arg, nodes.Const)
                    and isinstance(parent.arg.value, str)
                ):
                    fields.add(parent.arg.value)
                else:
                    return None
        stack.extend((child, node) for child in node.iter_child_nodes())
    return tuple(sorted(fields))


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

    _memo: dict[str, dict[tuple[Any, ...], bool]] = {}

    def __init__(self, now: datetime) -> None:
        self.now = now

    def holds(self, condition: Condition, lead: Mapping[str, Any]) -> bool:
        fields = lead_fields_only(condition)
        if fields is None:
            return holds(condition, EvaluationContext(lead=lead, now=self.now))
        memo = self._memo.setdefault(condition.source, {})
        key = _memo_key(lead, fields)
        try:
            return memo[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable value the key could not flatten
            return holds(condition, EvaluationContext(lead=lead, now=self.now))
        outcome = holds(condition, EvaluationContext(lead=lead, now=self.now))
        if len(memo) >= _MEMO_LIMIT:
            memo.clear()
        memo[key] = outcome
        return outcome


def fit_points(rules: Sequence[FitRule], lead: Mapping[str, Any], conditions: LeadConditions) -> dict[str, float]:
    """The points each fit rule gives this lead now, by label (rules that do not hold are absent)."""
    earned: dict[str, float] = {}
    for rule in rules:
        if rule.points and conditions.holds(rule.when, lead):
            label = fit_label(rule)
            earned[label] = earned.get(label, 0.0) + rule.points
    return earned


def rules_by_event(rules: Sequence[BehaviorRule]) -> dict[str, list[BehaviorRule]]:
    """Behaviour rules grouped by the event type they score."""
    grouped: dict[str, list[BehaviorRule]] = {}
    for rule in rules:
        grouped.setdefault(rule.event, []).append(rule)
    return grouped
