"""Checks on email templates: they exist, compile in the sandbox, and read only real lead fields."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment, TemplateError, TemplateNotFound, TemplateSyntaxError, nodes
from jinja2.loaders import split_template_path
from jinja2.meta import find_referenced_templates, find_undeclared_variables
from jinja2.sandbox import ImmutableSandboxedEnvironment

from nurture.definitions.conditions import LEAD_FIELDS
from nurture.definitions.localized import has_fallback, locale_steps
from nurture.definitions.problems import Problem, did_you_mean, one_of
from nurture.errors import Location
from nurture.i18n.locale_choice import NotALocale, language_tag, parse_locale
from nurture.templating import template_environment

# The names every email template is rendered with (see docs/definitions.md).
TEMPLATE_CONTEXT: tuple[str, ...] = ("lead", "campaign", "step", "unsubscribe_url", "now", "layout", "locale")
TEMPLATE_EXTENSIONS = (".html", ".txt")
MAX_TEMPLATE_BYTES = 1024 * 1024


@dataclass
class TemplateChecker:
    """Checks templates once each, however many steps use them."""

    templates_dir: Path
    root: Path
    environment: ImmutableSandboxedEnvironment = field(init=False)
    _checked: dict[str, list[Problem]] = field(default_factory=dict, init=False)
    _sources: dict[str, str] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.environment = template_environment(self.templates_dir)

    def display(self, name: str) -> str:
        path = self.templates_dir / name
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def available(self) -> list[str]:
        """Template names (without extension) of the workspace, e.g. ``trial/welcome``."""
        if not self.templates_dir.is_dir():
            return []
        return sorted(
            str(p.relative_to(self.templates_dir).with_suffix(""))
            for p in self.templates_dir.rglob("*.html")
            if p.is_file()
        )

    def exists(self, filename: str) -> bool:
        """Whether the template file exists, judged as the loader would (no way out of templates/)."""
        try:
            parts = split_template_path(filename)
        except TemplateNotFound:
            return False
        return self.templates_dir.joinpath(*parts).is_file()

    def check_email(self, name: str, at: Location, *, marketing: bool = True) -> list[Problem]:
        """The problems of the email template ``name`` (HTML required, text optional); marketing
        email must link the preference centre, transactional email need not."""
        html = f"{name}.html"
        if not self.exists(html):
            hint = did_you_mean(name, self.available())
            return [Problem("error", at, f"template {name!r} not found ({self.display(html)}){hint}")]
        problems = list(self.check_file(html))
        if self.exists(f"{name}.txt"):
            problems.extend(self.check_file(f"{name}.txt"))
        if marketing and not problems and "unsubscribe_url" not in self.chain_text(html):
            problems.append(
                Problem(
                    "warning",
                    Location(self.display(html)),
                    "no {{ unsubscribe_url }} in the template or its layout; marketing email needs one",
                )
            )
        return problems

    def check_file(self, filename: str) -> list[Problem]:
        """Problems of one template file and the templates it extends or includes."""
        if filename in self._checked:
            return self._checked[filename]
        self._checked[filename] = []  # guards against templates that include each other
        problems = self._check_file(filename)
        self._checked[filename] = problems
        return problems

    def _check_file(self, filename: str) -> list[Problem]:
        shown = self.display(filename)
        compiled = compile_template(self.environment, self.templates_dir / filename, filename, shown)
        if isinstance(compiled, Problem):
            return [compiled]
        source, tree = compiled
        self._sources[filename] = source
        problems = [
            Problem("error", Location(shown, line, 1), message) for line, message in lead_field_misuse(tree)
        ]
        known = (*TEMPLATE_CONTEXT, *self.environment.globals)
        problems.extend(
            Problem("error", Location(shown, line, column), message)
            for line, column, message in unknown_names(tree, source, known)
        )
        problems += [
            Problem("warning", Location(shown, line, 1), message) for line, message in lead_data_in_urls(tree)
        ]
        for referenced in find_referenced_templates(tree):
            if referenced is None:
                continue  # chosen at render time, e.g. {% extends layout %}
            if not self.exists(referenced):
                line = _line_of(source, referenced)
                problems.append(
                    Problem("error", Location(shown, line, 1), f"template {referenced!r} not found")
                )
            else:
                problems.extend(self.check_file(referenced))
        return problems

    def chain_text(self, filename: str) -> str:
        """The text of a template and everything it references (to look for required parts)."""
        seen: set[str] = set()
        todo = [filename]
        texts: list[str] = []
        while todo:
            name = todo.pop()
            if name in seen or name not in self._sources:
                continue
            seen.add(name)
            texts.append(self._sources[name])
            tree = self.environment.parse(self._sources[name])
            todo.extend(ref for ref in find_referenced_templates(tree) if ref is not None)
        return "\n".join(texts)

    def check_text(self, text: str, at: Location, what: str) -> list[Problem]:
        """A one-line template such as a subject: it must compile and use real lead fields."""
        try:
            tree = self.environment.parse(text)
            self.environment.compile(tree)
        except TemplateSyntaxError as exc:
            return [Problem("error", at, f"{what} is not a valid template: {exc.message}")]
        except TemplateError as exc:
            return [Problem("error", at, f"{what} is not a valid template: {exc.message}")]
        problems = [Problem("error", at, f"{what}: {message}") for _, message in lead_field_misuse(tree)]
        known = (*TEMPLATE_CONTEXT, *self.environment.globals)
        problems.extend(
            Problem("error", at, f"{what}: {message}") for _, _, message in unknown_names(tree, text, known)
        )
        return problems


# What the part between a template's name and its extension looks like when it is meant as a
# locale (``welcome.de.html``, ``welcome.de-CH.html``), as opposed to a name with a dot (``v2``).
_LOCALE_LIKE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")


def locale_version_problems(templates: TemplateChecker, name: str, at: Location) -> Iterator[Problem]:
    """The problems of the per-locale versions of template ``name`` (``name.de.html`` ...):
    each must compile and use known names, and its locale must be real."""
    folder, _, base = name.rpartition("/")
    directory = templates.templates_dir / folder if folder else templates.templates_dir
    if not directory.is_dir():
        return
    versions: dict[str, set[str]] = {}
    for path in directory.glob(f"{base}.*.*"):
        middle, dot, extension = path.name[len(base) + 1 :].rpartition(".")
        if dot and f".{extension}" in TEMPLATE_EXTENSIONS and path.is_file() and _LOCALE_LIKE.match(middle):
            versions.setdefault(middle, set()).add(extension)
    for middle, extensions in sorted(versions.items()):
        version = f"{folder}/{base}.{middle}" if folder else f"{base}.{middle}"
        shown = templates.display(f"{version}.{sorted(extensions)[0]}")
        try:
            tag = language_tag(parse_locale(middle, strict=True))
        except NotALocale:
            message = f"{middle!r} is not a locale: no lead gets this version of {name!r}"
            yield Problem("warning", Location(shown), message)
            continue
        if tag != middle:
            message = f"write the locale as {tag!r} ({base}.{tag}.html): leads are matched by that name"
            yield Problem("warning", Location(shown), message)
            continue
        if "html" not in extensions:
            yield Problem(
                "error", Location(shown), f"a text part without {version}.html beside it is never sent"
            )
            continue
        yield from templates.check_email(version, at)


def localized_text_problems(
    templates: TemplateChecker,
    text: str | dict[str, str],
    locate: Callable[..., Location],
    what: str,
    default_locale: str,
) -> Iterator[Problem]:
    """A one-line template (subject) or one per locale: each compiles and uses known names, and a
    map has the workspace's locale, the text of every lead whose language the map lacks."""
    if isinstance(text, str):
        yield from templates.check_text(text, locate(), what)
        return
    for key, value in text.items():
        yield from templates.check_text(value, locate(key), f"{what} ({key})")
    if not has_fallback(text, default_locale):
        wanted = " or ".join(repr(s) for s in locale_steps(default_locale))
        yield Problem(
            "error",
            locate(),
            f"{what} has no text for the workspace's locale {wanted} (the locale setting): leads in "
            f"other languages would get none; add {locale_steps(default_locale)[-1]}: \"...\"",
        )


def compile_template(
    environment: Environment, path: Path, name: str, shown: str
) -> tuple[str, nodes.Template] | Problem:
    """Read a template file and compile it in ``environment``: its source and syntax tree, or the
    problem (named ``shown``, with the line when known) that stopped it."""
    if path.stat().st_size > MAX_TEMPLATE_BYTES:
        return Problem("error", Location(shown), "template is larger than 1 MB")
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return Problem("error", Location(shown), "cannot read the template as UTF-8 text")
    try:
        tree = environment.parse(source, name, str(path))
        environment.compile(tree, name, str(path))
    except TemplateSyntaxError as exc:
        return Problem("error", Location(shown, exc.lineno or 1, 1), f"template error: {exc.message}")
    except TemplateError as exc:
        return Problem("error", Location(shown), f"template error: {exc.message}")
    return source, tree


def lead_field_misuse(tree: nodes.Node) -> Iterator[tuple[int, str]]:
    """(line, message) for every ``lead.<name>`` that is not a lead field."""
    for node in tree.find_all(nodes.Getattr):
        if isinstance(node.node, nodes.Name) and node.node.name == "lead" and node.attr not in LEAD_FIELDS:
            yield (
                node.lineno,
                f"unknown lead field {node.attr!r}{did_you_mean(node.attr, LEAD_FIELDS)} "
                f"(custom columns are lead.attributes.{node.attr})",
            )


def unknown_names(tree: nodes.Template, source: str, known: Iterable[str]) -> Iterator[tuple[int, int, str]]:
    """(line, column, message) where a template first reads a name it is not rendered with."""
    known = tuple(known)
    undeclared = find_undeclared_variables(tree) - set(known)
    if not undeclared:
        return
    lines = source.splitlines()
    seen: set[str] = set()
    for node in tree.find_all(nodes.Name):
        if node.name not in undeclared or node.name in seen or node.ctx != "load":
            continue
        seen.add(node.name)
        line = lines[node.lineno - 1] if 0 < node.lineno <= len(lines) else ""
        found = re.search(rf"(?<![\w.]){re.escape(node.name)}\b", line)
        hint = did_you_mean(node.name, TEMPLATE_CONTEXT)
        if not hint:
            names = one_of(TEMPLATE_CONTEXT)
            hint = f" (a template can use {names}; custom columns are lead.attributes.NAME)"
        yield node.lineno, found.start() + 1 if found else 1, f"unknown name {node.name!r}{hint}"


# The end of a link written before an expression: an href/src value opened and not yet closed,
# or a web address in running text with no space since it began.
# (A web address, or one with a query begun: "mailto:{{ lead.email }}" is left alone.)
_OPEN_ATTRIBUTE = re.compile(
    r"""(?:href|src|action)\s*=\s*(["'])(?=\s*https?://|[^"']*[?&=])(?:(?!\1).)*$""",
    re.IGNORECASE | re.DOTALL,
)
_OPEN_TEXT_URL = re.compile(r"https?://[^\s\"'<>]*$", re.IGNORECASE)
# Filters after which lead data is safe inside a URL.
_URL_SAFE_FILTERS = frozenset({"urlencode", "int", "float", "length", "count"})


def lead_data_in_urls(tree: nodes.Node) -> Iterator[tuple[int, str]]:
    """(line, message) for every ``{{ ... lead ... }}`` written into a link without ``|urlencode``.

    A browser percent-encodes a space, and so does the click redirect, but "&", "#", "?" or "+"
    in a company name silently change what the link says (``?c=Müller & Söhne`` sends ``c=Müller``).
    """
    for output in tree.find_all(nodes.Output):
        before = ""
        for child in output.nodes:
            if isinstance(child, nodes.TemplateData):
                before += child.data
                continue
            in_link = _OPEN_ATTRIBUTE.search(before[-2000:]) or _OPEN_TEXT_URL.search(before[-2000:])
            if in_link and _reads_lead(child) and not _url_safe(child):
                shown = _expression_text(child)
                yield (
                    child.lineno,
                    f"lead data in a link without urlencode: write {{{{ {shown}|urlencode }}}} so that "
                    "spaces, '&', '#' or '+' in it keep the link as meant",
                )
            before += "\x00"  # the expression's text: not a quote, not a space


def _reads_lead(node: nodes.Node) -> bool:
    return any(name.name == "lead" for name in node.find_all(nodes.Name)) or (
        isinstance(node, nodes.Name) and node.name == "lead"
    )


def _url_safe(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Filter) and (node.name in _URL_SAFE_FILTERS)


def _expression_text(node: nodes.Node) -> str:
    parts: list[str] = []
    while isinstance(node, nodes.Getattr):
        parts.append(node.attr)
        node = node.node
    if isinstance(node, nodes.Name):
        return ".".join([node.name, *reversed(parts)])
    return "..."


def _line_of(source: str, needle: str) -> int:
    for number, line in enumerate(source.splitlines(), start=1):
        if needle in line:
            return number
    return 1
