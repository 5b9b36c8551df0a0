"""Render one marketing email from a send step: subject, HTML (with inlined CSS) and text.

A send step names ``trial/welcome``: the HTML comes from ``trial/welcome.html`` and the text part
from ``trial/welcome.txt`` when it exists, else it is derived from the HTML. Templates are compiled
once (Jinja2's cache plus a per-renderer table of which parts exist), subjects once per distinct
source. Mail clients such as Gmail and Outlook ignore ``<style>`` blocks in part, so rules are
inlined into ``style`` attributes; media queries stay in a ``<style>`` block for clients that
honour them. The inlining is done once per template where the markup allows it
(:mod:`nurture.delivery.inlining`), else on each rendered email.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import css_inline
from jinja2 import BaseLoader, Environment, Template, TemplateNotFound, TemplateSyntaxError

from nurture.delivery.headers import clean_header_text
from nurture.delivery.inlining import NotInlinable, inline_template, style_fingerprint
from nurture.delivery.plaintext import html_template_to_text, html_to_text, tidy_text
from nurture.errors import NurtureError
from nurture.templating import render

log = logging.getLogger(__name__)


class RenderError(NurtureError):
    """A template could not be rendered; names the template and, when known, the line."""

    def __init__(self, template: str, line: int | None, problem: str) -> None:
        self.template = template
        self.line = line
        self.problem = problem
        where = f"{template}:{line}" if line else template
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    """The three rendered parts of one email."""

    subject: str
    html: str
    text: str


@dataclass(slots=True)
class _Parts:
    html: Template
    text: Template | None
    derived_text: Template | None = None
    inlined_html: Template | None = None
    """The HTML template with its CSS inlined once; None when each email is inlined instead."""
    checked: bool = False
    """Whether an email from ``inlined_html`` was compared with one inlined the slow way."""


def email_context(
    *,
    lead: Mapping[str, Any],
    campaign: Any,
    step: Any,
    unsubscribe_url: str,
    now: datetime,
    **extras: Any,
) -> dict[str, Any]:
    """The names every marketing template can use: ``lead``, ``campaign``, ``step``,
    ``unsubscribe_url``, ``now`` and any extras (e.g. ``sender``, ``rep``)."""
    return {
        "lead": lead,
        "campaign": campaign,
        "step": step,
        "unsubscribe_url": unsubscribe_url,
        "now": now,
        **extras,
    }


class EmailRenderer:
    """Renders emails from one template environment; keep one per workspace and reuse it."""

    def __init__(self, environment: Environment, *, inline_css: bool = True) -> None:
        self._environment = environment
        self._parts: dict[str, _Parts] = {}
        self._exists: dict[str, bool] = {}  # per-locale versions looked for (trial/welcome.de)
        self._subject_template = lru_cache(maxsize=2048)(self._compile_subject)
        # Text templates derived from HTML templates live in their own environment: same sandbox,
        # no autoescaping, and a loader that converts each HTML source (layouts and includes too).
        self._derived = (
            environment.overlay(
                loader=_DerivedTextLoader(environment.loader), autoescape=False, cache_size=400
            )
            if environment.loader is not None
            else None
        )
        self._inliner = (
            css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False) if inline_css else None
        )

    def render(self, template: str, subject: str, context: Mapping[str, Any]) -> RenderedEmail:
        """Render the step's template ``template`` (no extension) and ``subject`` with ``context``."""
        parts = self._load(template)
        values = dict(context)
        rendered_subject = self.render_subject(subject, values, template=template)
        html = self._run(parts.inlined_html or parts.html, values)
        if parts.text is not None:
            text = self._run(parts.text, values)
        elif parts.derived_text is not None:
            try:
                text = tidy_text(render(parts.derived_text, values))
            except Exception:
                # The HTML rendered, so the derivation fell short for this email: convert it instead.
                text = html_to_text(html)
        else:
            text = html_to_text(html)
        if self._inliner is not None:
            if parts.inlined_html is None:
                html = self._inline(html, parts)
            elif not parts.checked:
                html = self._check_inlined(html, values, parts)
        return RenderedEmail(subject=rendered_subject, html=html, text=text)

    def first_existing(self, names: Iterable[str]) -> str:
        """The first of the template names (no extension) whose HTML exists; the last one when none
        does (rendering it then says it is missing)."""
        listed = list(names)
        for name in listed[:-1]:
            found = self._exists.get(name)
            if found is None:
                try:
                    self._environment.get_template(f"{name}.html")
                    found = True
                except TemplateNotFound:
                    found = False
                except TemplateSyntaxError:
                    found = True  # it is there, and broken: rendering it says where
                self._exists[name] = found
            if found:
                return name
        return listed[-1]

    def render_subject(self, subject: str, context: Mapping[str, Any], *, template: str = "") -> str:
        """A subject line rendered on one line (lead data cannot add line breaks)."""
        label = f"subject of {template}" if template else "subject"
        try:
            compiled = self._subject_template(subject)
        except TemplateSyntaxError as exc:
            raise RenderError(label, None, exc.message or str(exc)) from None
        try:
            return clean_header_text(render(compiled, context))
        except Exception as exc:
            raise RenderError(label, None, _describe(exc)) from None

    def check(self, template: str) -> None:
        """Load (and so compile) the template's parts, raising :class:`RenderError` on a problem."""
        self._load(template)

    def _inline(self, html: str, parts: _Parts) -> str:
        assert self._inliner is not None
        try:
            return self._inliner.inline(html)
        except css_inline.InlineError as exc:
            raise RenderError(parts.html.name or "?", None, f"cannot inline CSS: {exc}") from None

    def _check_inlined(self, html: str, values: dict[str, Any], parts: _Parts) -> str:
        """Compare the first email of a template inlined once with the same email inlined now."""
        parts.checked = True
        expected = self._inline(self._run(parts.html, values), parts)
        if style_fingerprint(html) == style_fingerprint(expected):
            return html
        log.warning("%s: CSS inlined into the template differs from inlining each email; "
                    "inlining each email from now on", parts.html.name)  # fmt: skip
        parts.inlined_html = None
        return expected

    def _run(self, template: Template, context: dict[str, Any]) -> str:
        try:
            return render(template, context)
        except TemplateSyntaxError as exc:  # an included or extended template failed to compile
            raise RenderError(
                exc.name or template.name or "?", exc.lineno, exc.message or "syntax error"
            ) from None
        except Exception as exc:
            name, line = self._location(exc, template.name or "?")
            if isinstance(exc, TemplateNotFound):
                raise RenderError(name, line, f"template {exc.name!r} not found") from None
            raise RenderError(name, line, _describe(exc)) from None

    def _location(self, exc: BaseException, fallback: str) -> tuple[str, int | None]:
        """The innermost template and line in the traceback Jinja2 rewrote for ``exc``."""
        name, line = fallback, None
        tb = exc.__traceback__
        while tb is not None:
            if "__jinja_exception__" in tb.tb_frame.f_globals:
                name, line = self._template_name(tb.tb_frame.f_code.co_filename, fallback), tb.tb_lineno
            tb = tb.tb_next
        return name, line

    def _template_name(self, filename: str, fallback: str) -> str:
        # Jinja2 reports the file's path; the marketer knows a template by its name under templates/.
        for folder in getattr(self._environment.loader, "searchpath", ()):
            prefix = os.path.normpath(folder) + os.sep
            if filename.startswith(prefix):
                return filename[len(prefix) :].replace(os.sep, "/")
        return filename if filename and filename != "<template>" else fallback

    def _compile_subject(self, source: str) -> Template:
        return self._environment.from_string(source)

    def _load(self, template: str) -> _Parts:
        parts = self._parts.get(template)
        if parts is not None:
            return parts
        try:
            html = self._environment.get_template(f"{template}.html")
        except TemplateNotFound:
            raise RenderError(f"{template}.html", None, "template not found") from None
        except TemplateSyntaxError as exc:
            raise RenderError(
                exc.name or f"{template}.html", exc.lineno, exc.message or "syntax error"
            ) from None
        try:
            text: Template | None = self._environment.get_template(f"{template}.txt")
        except TemplateNotFound as exc:
            if exc.name != f"{template}.txt":
                raise RenderError(f"{template}.txt", None, f"template {exc.name!r} not found") from None
            text = None
        except TemplateSyntaxError as exc:
            raise RenderError(
                exc.name or f"{template}.txt", exc.lineno, exc.message or "syntax error"
            ) from None
        derived = self._derive_text(f"{template}.html") if text is None else None
        parts = _Parts(html=html, text=text, derived_text=derived, inlined_html=self._inline_once(html))
        self._parts[template] = parts
        return parts

    def _inline_once(self, html: Template) -> Template | None:
        if self._inliner is None or html.name is None:
            return None
        try:
            return inline_template(self._environment, html.name, self._inliner)
        except NotInlinable as reason:
            log.debug("%s: inlining CSS in each email (%s)", html.name, reason)
        except Exception as exc:
            # A template the inliner misreads must still render; it is inlined per email.
            log.debug("%s: inlining CSS in each email (%s: %s)", html.name, type(exc).__name__, exc)
        return None

    def _derive_text(self, name: str) -> Template | None:
        if self._derived is None:
            return None
        try:
            return self._derived.get_template(name)
        except Exception:
            # Not convertible or not valid once converted: each email is converted after rendering.
            return None


def _describe(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return str(message) if message else type(exc).__name__


class _NotConvertible(Exception):
    pass


class _DerivedTextLoader(BaseLoader):
    """Serves every ``.html``/``.htm`` template as the text template derived from its source."""

    def __init__(self, html_loader: BaseLoader) -> None:
        self._html_loader = html_loader

    def get_source(self, environment: Environment, template: str) -> tuple[str, str | None, Any]:
        source, filename, uptodate = self._html_loader.get_source(environment, template)
        if template.endswith((".html", ".htm")):
            converted = html_template_to_text(source)
            if converted is None:
                raise _NotConvertible(template)
            source = converted
        return source, filename, uptodate
