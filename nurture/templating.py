"""The one Jinja2 environment family nurture renders and evaluates with: always sandboxed.

Marketers' templates and conditions run in Jinja2's immutable sandbox (no attribute access to
Python internals, no mutation of lead data). HTML templates autoescape, so lead data can never
inject markup; a missing field is an error (StrictUndefined), with ``default`` for fallbacks.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment


def template_environment(*search_paths: Path) -> ImmutableSandboxedEnvironment:
    """An environment loading templates from ``search_paths`` in order (workspace first)."""
    return ImmutableSandboxedEnvironment(
        loader=FileSystemLoader([str(p) for p in search_paths]),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html", "htm", "xml"), default_for_string=False),
        auto_reload=False,
        cache_size=1000,
        keep_trailing_newline=True,
    )


def expression_environment() -> ImmutableSandboxedEnvironment:
    """An environment for conditions (``where``, ``exit_when``, ``if``): no loader, strict names."""
    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
