"""The one Jinja2 environment family nurture renders and evaluates with: always sandboxed.

Marketers' templates and conditions run in Jinja2's immutable sandbox (no attribute access to
Python internals, no mutation of lead data). HTML templates autoescape, so lead data can never
inject markup; a missing field is an error (StrictUndefined), with ``default`` for fallbacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any
from weakref import WeakKeyDictionary

from jinja2 import FileSystemLoader, StrictUndefined, Template, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment

_DATA = (dict, MappingProxyType)  # what templates and conditions are given: leads, campaigns, events


class Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, reading ``lead.first_name`` from a mapping without a detour.

    Jinja2 looks for an attribute before an item; for the mappings templates are given that means
    raising and catching an AttributeError on every ``lead.x``, the largest cost of a render. A
    key of such a mapping that is not also an attribute of its type is the item, as before.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        is_item = type(obj) in _DATA and type(attribute) is str and attribute in obj
        if is_item and not hasattr(type(obj), attribute):
            return obj[attribute]
        return super().getattr(obj, attribute)


def template_environment(*search_paths: Path) -> Sandbox:
    """An environment loading templates from ``search_paths`` in order (workspace first)."""
    return Sandbox(
        loader=FileSystemLoader([str(p) for p in search_paths]),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html", "htm", "xml"), default_for_string=False),
        auto_reload=False,
        cache_size=1000,
        keep_trailing_newline=True,
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
    try:
        return environment.concat(template.root_render_func(context))
    except Exception:
        environment.handle_exception()
