"""Conditions: the expressions in ``where``, ``exit_when``, ``if``, ``until`` and ``when``.

They are Jinja2 expressions compiled in the sandbox. Two lines of defence keep them to reading lead
data: at check time the expression tree is inspected and anything that reaches for Python internals
(``lead.__class__``), changes data (``lead.attributes.update(...)``) or could blow up in size
(``9 ** 9 ** 9``) is refused with a message; at evaluation the sandbox refuses the same again, and any
failure becomes a :class:`ConditionError` for the engine to record, never a crash.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property, lru_cache
from types import MappingProxyType
from typing import Any, Protocol

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.parser import Parser
from jinja2.runtime import Undefined
from jinja2.sandbox import (
    UNSAFE_ASYNC_GENERATOR_ATTRIBUTES,
    UNSAFE_COROUTINE_ATTRIBUTES,
    UNSAFE_GENERATOR_ATTRIBUTES,
    ImmutableSandboxedEnvironment,
)
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from nurture.clock import as_utc, parse_instant
from nurture.definitions.free_mail import FREE_MAIL_DOMAINS
from nurture.definitions.problems import ConditionError, DefinitionError, did_you_mean
from nurture.definitions.quick import quick_source
from nurture.errors import Location, NurtureError
from nurture.templating import Sandbox

LEAD_FIELDS: tuple[str, ...] = (
    "email",
    "email_domain",
    "first_name",
    "last_name",
    "company",
    "job_title",
    "industry",
    "company_size",
    "country",
    "timezone",
    "locale",
    "lifecycle_stage",
    "attributes",
    "owner",
    "score",
    "fit_score",
    "behavior_score",
    "created_at",
    "updated_at",
    "unsubscribed",
    "conversion_probability",  # the predictive score (extra nurture[predict]); None until trained
)
_FIELD_SET = frozenset(LEAD_FIELDS)
HELPERS: tuple[str, ...] = ("opened", "clicked", "days_since", "hours_since", "free_mail_domains")
NAMES: tuple[str, ...] = ("lead", "event", "now", *HELPERS)

_UNSAFE_NAMES = frozenset(
    {"mro", "func_globals", "func_code", "f_globals", "f_locals", "f_builtins", "tb_frame", "format_map"}
    | UNSAFE_GENERATOR_ATTRIBUTES
    | UNSAFE_COROUTINE_ATTRIBUTES
    | UNSAFE_ASYNC_GENERATOR_ATTRIBUTES
)
_MUTATING_NAMES = frozenset(
    {"update", "append", "extend", "insert", "remove", "pop", "popitem", "clear", "setdefault", "sort"}
    | {"reverse", "add", "discard", "difference_update", "intersection_update", "appendleft", "popleft"}
    | {"symmetric_difference_update", "extendleft", "rotate", "write", "send", "throw", "close"}
)
_MAX_REPEAT = 1000
_MAX_LITERAL = 10**15
MAX_SOURCE_LENGTH = 2000


class Engagement(Protocol):
    """What a lead did with this campaign's emails; the engine answers from the database."""

    def opened(self, ref: str) -> bool:
        """Whether the lead opened the email of send step (or template) ``ref``."""
        ...

    def clicked(self, ref: str) -> bool:
        """Whether the lead clicked a link in the email of send step (or template) ``ref``."""
        ...


class NoEngagement:
    """Engagement where nothing was opened or clicked (scoring, the SLA, previews)."""

    def opened(self, ref: str) -> bool:
        return False

    def clicked(self, ref: str) -> bool:
        return False


def lead_view(lead: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only view of a lead with every documented field present (``None`` when unknown)."""
    if type(lead) is dict and lead.keys() >= _FIELD_SET:
        view = lead.copy()  # a lead as the engine loads it (every field, and its id): copy it whole
    else:
        view = {name: lead.get(name) for name in LEAD_FIELDS}
    attributes = lead.get("attributes") or {}
    view["attributes"] = MappingProxyType(dict(attributes))
    return MappingProxyType(view)


@dataclass(frozen=True)
class EvaluationContext:
    """Everything a condition may read: the lead, the triggering event, the time and engagement."""

    lead: Mapping[str, Any]
    now: datetime
    engagement: Engagement = field(default_factory=NoEngagement)
    event: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "lead", lead_view(self.lead))
        if self.event is not None:
            object.__setattr__(self, "event", MappingProxyType(dict(self.event)))
        object.__setattr__(self, "now", as_utc(self.now))

    def variables(self) -> dict[str, Any]:
        """The names a condition sees."""
        now = self.now
        return {
            "lead": self.lead,
            "event": self.event,
            "now": now,
            "opened": lambda ref: bool(self.engagement.opened(str(ref))),
            "clicked": lambda ref: bool(self.engagement.clicked(str(ref))),
            "days_since": lambda value: _elapsed(value, now, 86400.0),
            "hours_since": lambda value: _elapsed(value, now, 3600.0),
            "free_mail_domains": FREE_MAIL_DOMAINS,
        }


def _elapsed(value: Any, now: datetime, unit: float) -> float | None:
    """Fractional days/hours from ``value`` (datetime, date or ISO text) to now; None for no value."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        instant = as_utc(value)
    elif isinstance(value, date):
        instant = as_utc(datetime(value.year, value.month, value.day))
    elif isinstance(value, str):
        instant = parse_instant(value)
    else:
        raise TypeError(f"expected a date and time, got {type(value).__name__}")
    return (now - instant).total_seconds() / unit


@lru_cache(maxsize=512)
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _matching(value: Any, pattern: str) -> bool:
    """The ``matching`` test: a regular-expression search; no value never matches."""
    if value is None or isinstance(value, Undefined):
        return False
    return _pattern(str(pattern)).search(str(value)) is not None


class Missing(Undefined):
    """A custom attribute or event property that is not there, as conditions read it.

    Leads come from many imports and events from many sources, so ``lead.attributes.plan`` and
    ``event.url`` are often simply absent. Such a value is falsy and empty, equal only to ``none``,
    never ordered (``< 10`` and ``>= 10`` are both false) and contains nothing, so the condition
    decides instead of failing for every lead without it. Arithmetic on it still fails.
    """

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return other is None or isinstance(other, Missing)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(None)

    def __lt__(self, *args: Any, **kwargs: Any) -> bool:  # type: ignore[override]
        return False

    def __le__(self, *args: Any, **kwargs: Any) -> bool:  # type: ignore[override]
        return False

    def __gt__(self, *args: Any, **kwargs: Any) -> bool:  # type: ignore[override]
        return False

    def __ge__(self, *args: Any, **kwargs: Any) -> bool:  # type: ignore[override]
        return False


_READ_AS_DATA = (dict, MappingProxyType)  # leads, their attributes and events


class ConditionSandbox(Sandbox):
    """The expression sandbox, reading a key a mapping of lead data lacks as :class:`Missing`."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        missing = type(obj) in _READ_AS_DATA and type(attribute) is str and attribute not in obj
        if missing and not hasattr(type(obj), attribute):
            return Missing(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        missing = type(obj) in _READ_AS_DATA and type(argument) is str and argument not in obj
        if missing and not argument.startswith("_"):
            return Missing(obj=obj, name=argument)
        return super().getitem(obj, argument)


def _is_none(value: Any) -> bool:
    return value is None or isinstance(value, Missing)


@lru_cache(maxsize=1)
def _environment() -> ImmutableSandboxedEnvironment:
    env = ConditionSandbox(undefined=StrictUndefined, autoescape=False)
    env.tests["matching"] = _matching
    env.tests["none"] = _is_none
    return env


@dataclass(frozen=True)
class ExpressionFacts:
    """What an expression refers to, for the cross-checks."""

    lead_fields: tuple[str, ...]
    references: tuple[tuple[str, str], ...]  # (helper, ref), e.g. ("opened", "welcome")
    uses_event: bool


def inspect_expression(source: str) -> ExpressionFacts:
    """Parse and vet an expression; ValueError naming the problem when it is not allowed."""
    if len(source) > MAX_SOURCE_LENGTH:
        raise ValueError(f"condition is longer than {MAX_SOURCE_LENGTH} characters")
    try:
        parser = Parser(_environment(), source, state="variable")
        tree = parser.parse_expression()
        if not parser.stream.eos:
            raise TemplateSyntaxError("unexpected text after the expression", parser.stream.current.lineno)
    except TemplateSyntaxError as exc:
        raise ValueError(f"condition {source!r} is not a valid expression: {exc.message}") from None
    except RecursionError:
        raise ValueError(f"condition {source!r} is nested too deeply") from None
    fields: list[str] = []
    references: list[tuple[str, str]] = []
    uses_event = False
    for node in _walk(tree):
        _refuse_unsafe(node, source)
        if isinstance(node, nodes.Name):
            if node.name not in NAMES:
                raise ValueError(f"unknown name {node.name!r}{did_you_mean(node.name, NAMES)}")
            uses_event = uses_event or node.name == "event"
        lead_field = _lead_field(node)
        if lead_field is not None:
            if lead_field not in LEAD_FIELDS:
                raise ValueError(
                    f"unknown lead field {lead_field!r}{did_you_mean(lead_field, LEAD_FIELDS)} "
                    f"(custom columns are lead.attributes.{lead_field})"
                )
            fields.append(lead_field)
        reference = _reference(node)
        if reference is not None:
            references.append(reference)
    return ExpressionFacts(tuple(fields), tuple(references), uses_event)


def _walk(node: nodes.Node) -> Iterator[nodes.Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(current.iter_child_nodes())


def _constant(node: nodes.Node | None) -> Any:
    return node.value if isinstance(node, nodes.Const) else None


def _refuse_unsafe(node: nodes.Node, source: str) -> None:
    name: Any = None
    if isinstance(node, nodes.Getattr):
        name = node.attr
    elif isinstance(node, nodes.Getitem):
        name = _constant(node.arg)
    elif isinstance(node, nodes.Filter | nodes.Test):
        # attr('__class__'), map(attribute='__dict__') and friends reach attributes by name too.
        name = next((a.value for a in node.args if isinstance(a, nodes.Const)), None)
        name = name or next((k.value.value for k in node.kwargs if isinstance(k.value, nodes.Const)), None)
        if isinstance(node, nodes.Test) and node.name == "matching" and isinstance(name, str):
            try:
                _pattern(name)
            except re.error as exc:
                raise ValueError(f"{name!r} is not a valid regular expression: {exc}") from None
            return
    if isinstance(name, str) and (name.startswith("_") or name in _UNSAFE_NAMES):
        raise ValueError(
            f"{source!r} reaches into Python internals ({name!r}); conditions may only read lead data"
        )
    if isinstance(name, str) and name in _MUTATING_NAMES and isinstance(node, nodes.Getattr):
        raise ValueError(f"{source!r} calls {name!r}, which changes data; conditions may only read it")
    if isinstance(node, nodes.Pow):
        raise ValueError("the ** operator is not available in conditions")
    if isinstance(node, nodes.Mul):
        _refuse_huge_repeat(node)
    value = _constant(node) if isinstance(node, nodes.Const) else None
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _MAX_LITERAL:
        raise ValueError(f"the number {value} is too large for a condition")


def _refuse_huge_repeat(node: nodes.Mul) -> None:
    # 'x' * 10**9 is folded at compile time; bounded repeats of constant text stay allowed.
    for repeated, count in ((node.left, node.right), (node.right, node.left)):
        if isinstance(repeated, nodes.Const | nodes.List | nodes.Tuple) and not isinstance(
            _constant(repeated), int | float
        ):
            amount = _constant(count)
            if not isinstance(amount, int) or amount > _MAX_REPEAT:
                raise ValueError(f"repeating text or lists is limited to {_MAX_REPEAT} times in conditions")


def _lead_field(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name) and node.node.name == "lead":
        return node.attr
    if isinstance(node, nodes.Getitem) and isinstance(node.node, nodes.Name) and node.node.name == "lead":
        key = _constant(node.arg)
        return key if isinstance(key, str) else None
    return None


def _reference(node: nodes.Node) -> tuple[str, str] | None:
    if not (isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and node.args):
        return None
    ref = _constant(node.args[0])
    if node.node.name in ("opened", "clicked") and isinstance(ref, str):
        return (node.node.name, ref)
    return None


_NO_LOCATION = Location("<expression>")


class Condition:
    """A compiled condition: its source, where it was written, and how to evaluate it."""

    def __init__(self, source: str, location: Location = _NO_LOCATION) -> None:
        self.source = str(source)
        self.location = location

    def __repr__(self) -> str:
        return f"Condition({self.source!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Condition) and other.source == self.source

    def __hash__(self) -> int:
        return hash(self.source)

    @cached_property
    def facts(self) -> ExpressionFacts:
        """Lead fields and engagement references used; raises ValueError if not allowed."""
        return inspect_expression(self.source)

    @cached_property
    def _compiled(self) -> Callable[..., Any]:
        return _environment().compile_expression(self.source, undefined_to_none=False)

    @cached_property
    def _quick(self) -> Callable[[Any, Any], Any] | None:
        return quick_source(self.source)

    def evaluate(self, context: EvaluationContext) -> bool:
        """Whether the condition holds; :class:`ConditionError` when it cannot be decided."""
        direct = self._quick
        if direct is not None:
            # Plain comparisons mean the same in Python; anything the quick path cannot decide
            # (a missing value, an odd type) is left to the sandbox, which decides and reports.
            try:
                return bool(direct(context.lead, context.event))
            except Exception:  # noqa: S110
                pass
        try:
            result = self._compiled(**context.variables())
            # A refused attribute comes back as an undefined value; bool() makes it raise.
            return bool(result)
        except NurtureError as exc:
            raise ConditionError(self.location, self.source, str(exc)) from None
        except Exception as exc:
            # Lead data is whatever was imported, and the sandbox signals refusals by raising: any
            # failure here is the condition's, reported with its location, never a crash.
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            raise ConditionError(self.location, self.source, message) from None

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            _validate_condition,
            serialization=core_schema.plain_serializer_function_ser_schema(lambda c: c.source),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "type": "string",
            "description": (
                "A condition in Jinja2 expression syntax over lead, event, now and the helpers "
                "opened(ref), clicked(ref), days_since(date), hours_since(date), free_mail_domains "
                "and the test `is matching(regex)`."
            ),
            "examples": ["lead.country in ['DE', 'AT', 'CH']", "opened('welcome')"],
        }


def compile_condition(source: str, location: Location = _NO_LOCATION) -> Condition:
    """A vetted condition; :class:`DefinitionError` at ``location`` when it is not allowed."""
    condition = Condition(source, location)
    try:
        condition.facts  # noqa: B018 - vetting happens on first access
        condition._compiled  # noqa: B018
    except ValueError as exc:
        raise DefinitionError(location, str(exc)) from None
    except TemplateSyntaxError as exc:
        raise DefinitionError(location, f"condition {source!r} is not valid: {exc.message}") from None
    return condition


def _validate_condition(value: Any) -> Condition:
    if isinstance(value, Condition):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError(
            "condition_type", 'a condition must be text, e.g. "lead.score >= 50" (quote it in YAML)'
        )
    location = getattr(value, "location", _NO_LOCATION)
    try:
        return compile_condition(value, location)
    except DefinitionError as exc:
        raise PydanticCustomError("condition_invalid", "{reason}", {"reason": exc.message}) from None
