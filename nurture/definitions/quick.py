"""A quick path for the plainest conditions, so scoring and the engine keep up with their load.

Every condition runs in Jinja's sandbox, whose per-call set-up costs tens of microseconds; scoring
evaluates a rule per event and the MQL rule per lead, and the engine an exit condition per step,
tens of thousands of times a second. Most
scoring conditions are plain comparisons (``lead.score >= 100``, ``event.asset_type ==
'whitepaper'``, ``'/pricing' in event.url``, ``lead.country in ['DE', 'AT']``), which mean exactly
the same in Python. Those are evaluated here directly; anything else, and any case where a value
is missing or of an unexpected type, goes to the sandbox, which decides (and reports) as always.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from jinja2 import TemplateSyntaxError, nodes
from jinja2.parser import Parser

from nurture.definitions.free_mail import FREE_MAIL_DOMAINS
from nurture.templating import expression_environment

if TYPE_CHECKING:
    from nurture.definitions.conditions import Condition

Quick = Callable[[Mapping[str, Any], Mapping[str, Any] | None], Any]
"""Evaluates a condition for (lead, event); raises when the sandbox must decide instead."""

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gteq": operator.ge,
    "lt": operator.lt,
    "lteq": operator.le,
    "in": lambda a, b: a in b,
    "notin": lambda a, b: a not in b,
}
# Jinja reads `x.name` as an attribute first: on a mapping, `items`, `get` and friends are methods.
_MAPPING_ATTRIBUTES = frozenset(dir(dict)) | frozenset(dir(MappingProxyType))


class Fallback(Exception):
    """The quick path cannot say; ask the sandbox."""


class _Unsupported(Exception):
    pass


@lru_cache(maxsize=1024)
def _compile_source(source: str) -> Quick | None:
    try:
        parser = Parser(expression_environment(), source, state="variable")
        return _compile(parser.parse_expression())
    except (_Unsupported, TemplateSyntaxError, RecursionError):
        return None


def quick(condition: Condition) -> Quick | None:
    """A direct evaluator for ``condition`` when it is plain enough; None otherwise."""
    return _compile_source(condition.source)


def quick_source(source: str) -> Quick | None:
    """A direct evaluator for a condition's source when it is plain enough; None otherwise."""
    return _compile_source(source)


def _compile(node: nodes.Node) -> Quick:  # noqa: C901 - one branch per node kind
    if isinstance(node, nodes.Const):
        value = node.value
        return lambda lead, event: value
    if isinstance(node, nodes.List | nodes.Tuple):
        if not all(isinstance(item, nodes.Const) for item in node.items):
            raise _Unsupported
        values = [item.value for item in node.items]  # type: ignore[attr-defined]
        return lambda lead, event: values
    if isinstance(node, nodes.Name):
        return _name(node.name)
    if isinstance(node, nodes.Getattr):
        if node.attr in _MAPPING_ATTRIBUTES:
            raise _Unsupported
        return _field(_compile(node.node), node.attr)
    if isinstance(node, nodes.Getitem):
        if not (isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str)):
            raise _Unsupported
        return _field(_compile(node.node), node.arg.value)
    if isinstance(node, nodes.And):
        left, right = _compile(node.left), _compile(node.right)
        return lambda lead, event: left(lead, event) and right(lead, event)
    if isinstance(node, nodes.Or):
        left, right = _compile(node.left), _compile(node.right)
        return lambda lead, event: left(lead, event) or right(lead, event)
    if isinstance(node, nodes.Not):
        inner = _compile(node.node)
        return lambda lead, event: not inner(lead, event)
    if isinstance(node, nodes.Compare):
        return _compare(node)
    if isinstance(node, nodes.Test):
        return _test(node)
    raise _Unsupported


def _name(name: str) -> Quick:
    if name == "lead":
        return lambda lead, event: lead
    if name == "event":
        return lambda lead, event: event
    if name == "free_mail_domains":
        return lambda lead, event: FREE_MAIL_DOMAINS
    raise _Unsupported


_VIEW_TYPES = (dict, MappingProxyType)


def _field(parent: Quick, name: str) -> Quick:
    def read(lead: Mapping[str, Any], event: Mapping[str, Any] | None) -> Any:
        container = parent(lead, event)
        # The views conditions see are dicts and mapping proxies; asking the Mapping ABC about
        # a mapping proxy is not cached by the interpreter and costs more than the whole compare.
        is_mapping = type(container) in _VIEW_TYPES or isinstance(container, Mapping)
        if not is_mapping or name not in container:
            raise Fallback
        return container[name]

    return read


def _compare(node: nodes.Compare) -> Quick:
    first = _compile(node.expr)
    steps = []
    for operand in node.ops:
        if operand.op not in _COMPARE:
            raise _Unsupported
        steps.append((_COMPARE[operand.op], _compile(operand.expr)))

    def compare(lead: Mapping[str, Any], event: Mapping[str, Any] | None) -> bool:
        # Chained like Python (and Jinja): a < b < c is a < b and b < c.
        left = first(lead, event)
        for test, right_of in steps:
            right = right_of(lead, event)
            if not test(left, right):
                return False
            left = right
        return True

    return compare


def _test(node: nodes.Test) -> Quick:
    subject = _compile(node.node)
    if node.name == "none" and not node.args:
        return lambda lead, event: subject(lead, event) is None
    if node.name == "matching" and len(node.args) == 1 and not node.kwargs:
        pattern_node = node.args[0]
        if not (isinstance(pattern_node, nodes.Const) and isinstance(pattern_node.value, str)):
            raise _Unsupported
        pattern = re.compile(pattern_node.value)

        def matching(lead: Mapping[str, Any], event: Mapping[str, Any] | None) -> bool:
            value = subject(lead, event)
            return value is not None and pattern.search(str(value)) is not None

        return matching
    raise _Unsupported
