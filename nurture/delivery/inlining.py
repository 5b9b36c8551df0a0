"""CSS inlined into the *templates* once, instead of into every rendered email.

Inlining a stylesheet means parsing the whole document and matching every rule against every
element: more work than rendering the email itself. But which rules apply to an element depends
on the markup around it, which lives in the template, not in the lead's data. So, once per send
step's template, nurture:

1. reads the template, its layouts (``extends``) and partials (``include``), and tags every
   start tag with a numbered marker;
2. assembles the page the way Jinja2's inheritance would (blocks filled in from the most derived
   template), with the template logic left out, and lets ``css_inline`` inline that page;
3. copies each marked element's computed ``style`` back into the template source, drops the
   ``<style>`` blocks (keeping media queries in one ``<style>``, as ``css_inline`` does) and
   compiles the result as the template to render.

Templates whose markup is produced at render time (macros, ``|safe`` HTML, dynamic names,
template logic inside a tag or in a stylesheet) are not handled here; the renderer inlines each
rendered email for those, and also checks the first email of every template both ways.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import css_inline
from jinja2 import BaseLoader, Environment, Template, TemplateNotFound

_JINJA = r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}"
_SCAN = re.compile(
    r"(?P<jinja>" + _JINJA + r")"
    r"|(?P<comment><!--.*?-->)"
    r"|(?P<raw><(?P<rawname>style|script|title|textarea)\b(?:[^>\"']|\"[^\"]*\"|'[^']*')*>.*?</(?P=rawname)\s*>)"
    # A lone "{" is kept apart from the start of a template tag, so no text can match two ways.
    r"|(?P<tag><[A-Za-z][A-Za-z0-9:-]*(?:\"[^\"]*\"|'[^']*'|" + _JINJA + r"|[^>\"'{]|\{(?![{%#]))*>)",
    re.DOTALL | re.IGNORECASE,
)
_JINJA_ANYWHERE = re.compile(_JINJA, re.DOTALL)
_STATEMENT = re.compile(r"\{%-?\s*(block|endblock|extends|include)\b(.*?)-?%\}", re.DOTALL)
_LITERAL = re.compile(r"""\s*(["'])([^"']+)\1\s*$""")
_BLOCK_NAME = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)(?:\s+(?:scoped|required))*\s*$")
# Markup made at render time, or logic whose effect on the markup cannot be seen in the source.
_UNFOLLOWABLE = re.compile(
    r"\{%-?\s*(?:import|from|macro|call|filter|raw|autoescape)\b|super\(\)|\bself\.|\|\s*safe\b|\bmarkup\(",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'", re.DOTALL)
_STYLE_ATTRIBUTE = re.compile(r"""\sstyle\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
_MARKER_ATTRIBUTE = "data-nurture-el"
_OUTPUT_TAG = re.compile(r"<([A-Za-z][A-Za-z0-9:-]*)\s[^>]*?" + _MARKER_ATTRIBUTE + r"=\"(\d+)\"[^>]*>")
_OUTPUT_STYLE = re.compile(r"""\sstyle="([^"]*)\"""")
_STYLE_BLOCK = re.compile(r"<style\b[^>]*>(.*?)</style\s*>", re.DOTALL | re.IGNORECASE)
_LINKED_STYLESHEET = re.compile(r"<link\b[^>]*stylesheet", re.IGNORECASE)
_MAX_FILES = 50


class NotInlinable(Exception):
    """The template's markup cannot be known from its source; inline each email instead."""


@dataclass
class _Tag:
    start: int
    end: int
    style: tuple[int, int] | None  # span of an existing style attribute's value
    is_style_block: bool = False


@dataclass
class _Block:
    name: str
    children: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class _Include:
    name: str


@dataclass
class _File:
    name: str
    source: str
    tags: dict[int, _Tag]
    tree: list[Any]
    blocks: dict[str, _Block]
    extends: str | None


def inline_template(environment: Environment, name: str, inliner: css_inline.CSSInliner) -> Template:
    """``name`` compiled with its CSS inlined into the markup; :class:`NotInlinable` when it can't be."""
    return _TemplateInliner(environment, inliner).compile(name)


def style_fingerprint(html: str) -> Counter[tuple[str, str]]:
    """Every (element, inline style) pair and every ``<style>`` body of a document, for comparing
    two inlined renderings regardless of the wrapper elements an HTML parser adds."""
    pairs: Counter[tuple[str, str]] = Counter()
    for match in re.finditer(r"<([A-Za-z][A-Za-z0-9:-]*)\b((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>", html):
        tag = match.group(1).lower()
        style = _STYLE_ATTRIBUTE.search(" " + match.group(2))
        if style is not None and tag not in ("html", "head", "body", "tbody"):
            value = style.group(1) if style.group(1) is not None else style.group(2)
            pairs[(tag, value.replace("&quot;", '"').replace("&#39;", "'"))] += 1
    for block in _STYLE_BLOCK.findall(html):
        pairs[("style", " ".join(block.split()))] += 1
    return pairs


class _TemplateInliner:
    def __init__(self, environment: Environment, inliner: css_inline.CSSInliner) -> None:
        if environment.loader is None:
            raise NotInlinable("no template loader")
        self._environment = environment
        self._loader = environment.loader
        self._inliner = inliner
        self._files: dict[str, _File] = {}
        self._next_marker = 0

    def compile(self, name: str) -> Template:
        document = self._document(name, {}, 0)
        page = _JINJA_ANYWHERE.sub("", document)
        try:
            inlined = self._inliner.inline(page)
        except css_inline.InlineError as exc:
            raise NotInlinable(str(exc)) from None
        styles = _computed_styles(inlined)
        media_rules = "".join(_STYLE_BLOCK.findall(inlined))
        first_style = re.search(r"<style\b[^>]*?" + _MARKER_ATTRIBUTE + r"=\"(\d+)\"", document)
        sources = {
            file.name: _rewrite(file, styles, media_rules if first_style else "", first_style)
            for file in self._files.values()
        }
        overlay = self._environment.overlay(loader=_Sources(sources), cache_size=_MAX_FILES)
        return overlay.get_template(name)

    # -- reading the template family --------------------------------------------------------------

    def _file(self, name: str) -> _File:
        known = self._files.get(name)
        if known is not None:
            return known
        if len(self._files) >= _MAX_FILES:
            raise NotInlinable("too many templates involved")
        source, _, _ = self._loader.get_source(self._environment, name)
        if _UNFOLLOWABLE.search(source) or _LINKED_STYLESHEET.search(source):
            raise NotInlinable(f"{name}: markup is made at render time")
        marked, tags = self._mark(source, name)
        tree, blocks, extends = _parse(marked, name)
        parsed = _File(name, source, tags, tree, blocks, extends)
        self._files[name] = parsed
        return parsed

    def _mark(self, source: str, name: str) -> tuple[str, dict[int, _Tag]]:
        """The source with a numbered marker in every start tag, and where each tag is."""
        pieces: list[str] = []
        tags: dict[int, _Tag] = {}
        position = 0
        for match in _SCAN.finditer(source):
            kind = match.lastgroup
            if kind == "raw":
                text = match.group(0)
                if match.group("rawname").lower() != "style":
                    continue
                if _JINJA_ANYWHERE.search(text) or "data-css-inline" in text:
                    raise NotInlinable(f"{name}: template logic inside a stylesheet")
                marker = self._marker()
                tags[marker] = _Tag(match.start(), match.end(), None, is_style_block=True)
                pieces.append(source[position : match.start() + 6] + f' {_MARKER_ATTRIBUTE}="{marker}"')
                position = match.start() + 6
            elif kind == "tag":
                tag = match.group(0)
                if _JINJA_ANYWHERE.search(_QUOTED.sub("", tag)):
                    raise NotInlinable(f"{name}: template logic inside a tag")
                style = _STYLE_ATTRIBUTE.search(tag)
                if style is not None and "{" in style.group(0):
                    raise NotInlinable(f"{name}: template logic in a style attribute")
                span = None
                if style is not None:
                    group = 1 if style.group(1) is not None else 2
                    span = (match.start() + style.start(group), match.start() + style.end(group))
                marker = self._marker()
                tags[marker] = _Tag(match.start(), match.end(), span)
                name_end = match.start() + 1 + len(re.match(r"[A-Za-z][A-Za-z0-9:-]*", tag[1:]).group(0))  # type: ignore[union-attr]
                pieces.append(source[position:name_end] + f' {_MARKER_ATTRIBUTE}="{marker}"')
                position = name_end
        pieces.append(source[position:])
        return "".join(pieces), tags

    def _marker(self) -> int:
        self._next_marker += 1
        return self._next_marker

    # -- assembling the page as Jinja2 would ----------------------------------------------------

    def _document(self, name: str, overrides: dict[str, _Block], depth: int) -> str:
        if depth > 10:
            raise NotInlinable("templates include or extend each other too deeply")
        file = self._file(name)
        if file.extends is not None:
            merged = dict(file.blocks)
            merged.update(overrides)  # the most derived template's blocks win
            return self._document(file.extends, merged, depth + 1)
        return "".join(self._render(file.tree, overrides, depth))

    def _render(self, nodes: list[Any], overrides: dict[str, _Block], depth: int) -> Iterator[str]:
        for node in nodes:
            if isinstance(node, str):
                yield node
            elif isinstance(node, _Block):
                chosen = overrides.get(node.name, node)
                yield from self._render(chosen.children, overrides, depth)
            else:
                # An included template sees no blocks of the including one.
                yield self._document(node.name, {}, depth + 1)


def _parse(marked: str, name: str) -> tuple[list[Any], dict[str, _Block], str | None]:
    """The template as text with its blocks and includes as nodes; its blocks by name; its parent."""
    root: list[Any] = []
    stack: list[list[Any]] = [root]
    blocks: dict[str, _Block] = {}
    extends: str | None = None
    position = 0
    for match in _STATEMENT.finditer(marked):
        stack[-1].append(marked[position : match.start()])
        position = match.end()
        keyword, argument = match.group(1), match.group(2)
        if keyword == "block":
            block_name = _BLOCK_NAME.match(argument)
            if block_name is None:
                raise NotInlinable(f"{name}: unusual block")
            block = _Block(block_name.group(1))
            blocks[block.name] = block
            stack[-1].append(block)
            stack.append(block.children)
        elif keyword == "endblock":
            if len(stack) == 1:
                raise NotInlinable(f"{name}: endblock without block")
            stack.pop()
        else:
            literal = _LITERAL.match(argument)
            if literal is None:
                raise NotInlinable(f"{name}: {keyword} of a computed template name")
            if keyword == "extends":
                extends = literal.group(2)
            else:
                stack[-1].append(_Include(literal.group(2)))
    stack[-1].append(marked[position:])
    if len(stack) != 1:
        raise NotInlinable(f"{name}: block without endblock")
    return root, blocks, extends


def _computed_styles(inlined: str) -> dict[int, str]:
    styles: dict[int, str] = {}
    for match in _OUTPUT_TAG.finditer(inlined):
        marker = int(match.group(2))
        style = _OUTPUT_STYLE.search(match.group(0))
        value = style.group(1) if style is not None else ""
        if styles.setdefault(marker, value) != value:
            # The same markup (a partial included twice) styled differently in two places.
            raise NotInlinable("an element is styled differently where it is used twice")
    return styles


def _rewrite(file: _File, styles: dict[int, str], media_rules: str, first_style: re.Match[str] | None) -> str:
    """The file's source with computed styles in its tags and its stylesheets taken out."""
    source = file.source
    edits: list[tuple[int, int, str]] = []
    for marker, tag in file.tags.items():
        if tag.is_style_block:
            # Keep the line count, so that errors further down still name the right line.
            lines = "\n" * source.count("\n", tag.start, tag.end)
            keep = first_style is not None and int(first_style.group(1)) == marker and media_rules
            block = "<style>" + " ".join(media_rules.split()) + "</style>" if keep else ""
            edits.append((tag.start, tag.end, block + lines))
            continue
        style = styles.get(marker, "")
        if not style:
            continue
        if tag.style is not None:
            edits.append((tag.style[0], tag.style[1], style))
        else:
            close = tag.end - 2 if source[tag.end - 2 : tag.end] == "/>" else tag.end - 1
            edits.append((close, close, f' style="{style}"'))
    for start, end, replacement in sorted(edits, reverse=True):
        source = source[:start] + replacement + source[end:]
    return source


class _Sources(BaseLoader):
    """The rewritten sources of one template family."""

    def __init__(self, sources: dict[str, str]) -> None:
        self._sources = sources

    def get_source(self, environment: Environment, template: str) -> tuple[str, str | None, Any]:
        if template not in self._sources:
            raise TemplateNotFound(template)
        return self._sources[template], template, lambda: True
