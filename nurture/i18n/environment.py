"""The template environment of nurture's own pages and emails, in the reader's language.

One environment serves every reader: the texts (``_``, ``gettext``, ``ngettext``,
``{% trans %}``) and the formatting filters (:mod:`nurture.i18n.formats`) read the
:class:`~nurture.i18n.reader.Reader` a template is rendered for, so templates are compiled once,
not once per language. It is nurture's sandbox (:func:`nurture.templating.template_environment`):
autoescaping for ``.html``, strict undefined names, render limits.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Template, pass_context
from jinja2.runtime import Context

from nurture.i18n.formats import FILTERS, READER, reader_of
from nurture.i18n.reader import Reader
from nurture.render_limits import DEFAULT_LIMITS, RenderLimits
from nurture.templating import Sandbox, render, template_environment

DEFAULT_TEMPLATES = Path(__file__).resolve().parent.parent / "default_templates"
"""nurture's own templates: ``sales/`` (emails to reps), ``pages/`` (the pages it serves)."""


@pass_context
def _gettext(context: Context, message: str) -> str:
    return reader_of(context).translations.gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return reader_of(context).translations.ngettext(singular, plural, n)


@pass_context
def _pgettext(context: Context, message_context: str, message: str) -> str:
    return reader_of(context).translations.pgettext(message_context, message)


@pass_context
def _npgettext(context: Context, message_context: str, singular: str, plural: str, n: int) -> str:
    return reader_of(context).translations.npgettext(message_context, singular, plural, n)


def own_environment(*search_paths: Path, limits: RenderLimits = DEFAULT_LIMITS) -> Sandbox:
    """The environment for nurture's own templates, loading from ``search_paths`` in order.

    Give the workspace's ``templates/`` first and :data:`DEFAULT_TEMPLATES` last, so a file the
    workspace has (``templates/pages/unsubscribe.html``) replaces nurture's own.
    """
    environment = template_environment(*search_paths, limits=limits)
    environment.add_extension("jinja2.ext.i18n")
    # New-style gettext: ``_("Hello %(name)s", name=x)`` escapes ``x`` in HTML, and a missing
    # variable is an error rather than a silently untranslated text.
    environment.install_gettext_callables(  # type: ignore[attr-defined]
        _gettext, _ngettext, newstyle=True, pgettext=_pgettext, npgettext=_npgettext
    )
    environment.filters.update(FILTERS)
    return environment


def render_own(template: Template, reader: Reader, values: Mapping[str, Any]) -> str:
    """Render one of nurture's own templates for ``reader`` (given to it as ``reader``)."""
    return render(template, {**values, READER: reader})
