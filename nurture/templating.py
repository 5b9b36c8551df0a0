"""The one Jinja2 environment family nurture renders and evaluates with: always sandboxed.

Marketers' templates and conditions run in Jinja2's immutable sandbox (no attribute access to
Python internals, no mutation of lead data). HTML templates autoescape, so lead data can never
inject markup; a missing field is an error (StrictUndefined), with ``default`` for fallbacks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from itertools import islice
from pathlib import Path
from types import BuiltinMethodType, MappingProxyType
from typing import Any, cast
from weakref import WeakKeyDictionary

from jinja2 import FileSystemLoader, StrictUndefined, Template, nodes, select_autoescape
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from nurture.render_limits import (
    DEFAULT_LIMITS,
    RenderBudget,
    RenderLimitExceeded,
    RenderLimits,
    check_format_widths,
    check_size,
    check_str_method,
    checked_binop,
    counted_loop,
    current_budget,
    limited_filters,
    limited_lipsum,
    too_large,
)

_DATA = (dict, MappingProxyType)  # what templates and conditions are given: leads, campaigns, events


class _LimitedCodeGenerator(CodeGenerator):
    """Compiles templates so loops count their turns and ``~`` checks what it joins."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:  # noqa: N802 - Jinja2's names
        for loop in node.find_all(nodes.For):
            if not _is_counted(loop.iter):
                loop.iter = nodes.Call(
                    nodes.EnvironmentAttribute("counted_loop"), [loop.iter], [], None, None,
                    lineno=loop.iter.lineno,
                )  # fmt: skip
        super().visit_Template(node, frame)

    def visit_Call(self, node: nodes.Call, frame: Frame, forward_caller: bool = False) -> None:  # noqa: N802
        if _is_counted(node):
            # Straight to the function: the sandbox's call() is for what templates call.
            self.write("environment.counted_loop(")
            self.visit(node.args[0], frame)
            self.write(")")
        else:
            # Jinja2's optimizeconst wrapper passes this flag only by keyword.
            super().visit_Call(node, frame, forward_caller=forward_caller)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:  # noqa: N802
        self.write("environment.sized(")
        super().visit_Concat(node, frame)
        self.write(")")


def _is_counted(node: nodes.Node) -> bool:
    # Templates cannot spell an environment attribute: only this compiler makes one.
    return (
        isinstance(node, nodes.Call)
        and isinstance(node.node, nodes.EnvironmentAttribute)
        and node.node.name == "counted_loop"
    )


class LimitedTemplate(Template):
    """A template whose ``render()`` keeps to its environment's :class:`RenderLimits`."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        return render(self, dict(*args, **kwargs))


class Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, reading ``lead.first_name`` from a mapping without a detour, and
    keeping every render within :class:`~nurture.render_limits.RenderLimits`.

    Jinja2 looks for an attribute before an item; for the mappings templates are given that means
    raising and catching an AttributeError on every ``lead.x``, the largest cost of a render. A
    key of such a mapping that is not also an attribute of its type is the item, as before.
    """

    code_generator_class = _LimitedCodeGenerator
    template_class = LimitedTemplate
    # Intercepted operators are also never folded into constants when a template is compiled,
    # so ``{{ 'a' * 100000000 }}`` cannot stall ``nurture check`` either.
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    counted_loop = staticmethod(counted_loop)

    def __init__(self, *args: Any, limits: RenderLimits = DEFAULT_LIMITS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self.filters.update(limited_filters(limits, self.filters))
        self.globals["lipsum"] = limited_lipsum(limits, cast(Callable[..., str], self.globals["lipsum"]))

    def getattr(self, obj: Any, attribute: str) -> Any:
        is_item = type(obj) in _DATA and type(attribute) is str and attribute in obj
        if is_item and not hasattr(type(obj), attribute):
            return obj[attribute]
        return super().getattr(obj, attribute)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        checked_binop(self.limits, operator, left, right)
        result = self.binop_table[operator](left, right)
        if operator == "%" and isinstance(result, str):
            check_size(self.limits, len(result), "a formatted value")
        return result

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        if type(__obj) is BuiltinMethodType and isinstance(__obj.__self__, str):
            check_str_method(__self.limits, __obj.__self__, __obj.__name__, args)
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        limits, fmt = self.limits, value.__self__

        def checked(*args: Any, **kwargs: Any) -> str:
            values = [*args, *kwargs.values()]
            if args and isinstance(args[0], dict):  # format_map
                values += list(args[0].values())
            check_format_widths(limits, fmt, values)
            result = wrapped(*args, **kwargs)
            check_size(limits, len(result), "a formatted value")
            return result

        return checked

    def sized(self, joined: Any) -> Any:
        """A value joined with ``~`` (its parts were each within the limit; two may not be)."""
        if len(joined) > self.limits.max_chars:
            raise too_large(self.limits, len(joined), "a value joined with ~")
        return joined


def template_environment(*search_paths: Path, limits: RenderLimits = DEFAULT_LIMITS) -> Sandbox:
    """An environment loading templates from ``search_paths`` in order (workspace first)."""
    return Sandbox(
        loader=FileSystemLoader([str(p) for p in search_paths]),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html", "htm", "xml"), default_for_string=False),
        auto_reload=False,
        cache_size=1000,
        keep_trailing_newline=True,
        limits=limits,
    )


def expression_environment() -> Sandbox:
    """An environment for conditions (``where``, ``exit_when``, ``if``): no loader, strict names."""
    return Sandbox(undefined=StrictUndefined, autoescape=False)


_template_globals: WeakKeyDictionary[Template, dict[str, Any]] = WeakKeyDictionary()


def render(template: Template, values: Mapping[str, Any]) -> str:
    """``template.render(values)``, without copying the template's globals on every call.

    Jinja2 merges its chained globals into a fresh dict twice per render; for an email sent to
    thousands of leads that copy is taken once per template here instead. Errors are raised as
    ``Template.render`` raises them, with the traceback pointing into the template.
    """
    environment = template.environment
    merged = _template_globals.get(template)
    if merged is None:
        merged = _template_globals[template] = dict(template.globals)
    context = environment.context_class(environment, {**merged, **values}, template.name, template.blocks)
    limits: RenderLimits = getattr(environment, "limits", DEFAULT_LIMITS)
    budget = RenderBudget(limits)
    token = current_budget.set(budget)
    try:
        return _produce(template.root_render_func(context), budget)
    except Exception:
        environment.handle_exception()
    finally:
        current_budget.reset(token)


_SLICE = 64  # output pieces taken at a time: the size is summed, and the clock read, per slice


def _produce(pieces: Iterator[str], budget: RenderBudget) -> str:
    """The rendered text, stopped as soon as it is over the limit or over time."""
    limit = budget.limits.max_chars
    produced: list[str] = []
    size = 0
    while True:
        taken = list(islice(pieces, _SLICE))
        size += sum(map(len, taken))
        if size > limit:
            raise RenderLimitExceeded(
                f"the rendered text is over the limit of {limit:,} characters (render_max_chars)"
            )
        produced += taken
        if len(taken) < _SLICE:
            return "".join(produced)
        budget.check_time()
