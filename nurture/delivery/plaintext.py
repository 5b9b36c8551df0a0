"""The text part of an email derived from its HTML, for templates without a ``.txt`` twin.

Readers of the text part (and spam filters, which compare both parts) expect the same content in
a readable form: paragraphs separated by blank lines, list items with markers, and every link as
``text (url)`` so it can still be followed. Hidden preheaders, styles and scripts are dropped.

Parsing HTML with the standard library's parser costs a few hundred microseconds per email, more
than rendering it. So the conversion normally runs once per *template*: the HTML template's source
(Jinja2 tags and all) is converted into a text template, which then renders per email as cheaply
as any ``.txt`` template. :func:`html_to_text` converts one finished document; the renderer falls
back to it for templates whose structure the source conversion cannot follow.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCKS = frozenset(
    "address article aside blockquote center dd div dl dt fieldset figcaption figure footer form "
    "header main nav ol p pre section table tbody tfoot thead tr ul".split()
)
_HEADINGS = {"h1": "=", "h2": "-", "h3": "", "h4": "", "h5": "", "h6": ""}
_SKIPPED = frozenset(("head", "style", "script", "title", "template"))
_VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|mso-hide\s*:\s*all", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\r\n\f\v]+")
_BODY = re.compile(r"<body\b[^>]*>(.*)</body\s*>", re.IGNORECASE | re.DOTALL)
_NOISE = re.compile(r"<(style|script|head)\b.*?</\1\s*>|<!--.*?-->", re.IGNORECASE | re.DOTALL)


_JINJA = re.compile(r"\{[{%#]")
# Statements that define names or scopes: dropping them with hidden content would change the rest.
_DEFINING = re.compile(r"\{%-?\s*(?:set|import|from|macro|call|filter|with|include|extends)\b")
_TEMPLATE_NOISE = re.compile(r"<(style|script)\b.*?</\1\s*>|<!--.*?-->", re.IGNORECASE | re.DOTALL)
_BLANK_LINES = re.compile(r"\n{3,}")


def html_to_text(html: str) -> str:
    """A readable plain-text rendering of ``html``: paragraphs, lists and ``text (url)`` links."""
    body = _BODY.search(html)
    # Styles, scripts and comments (Outlook conditionals) never reach the text; cutting them out
    # before parsing spares the pure-Python parser most of the document.
    source = _NOISE.sub("", body.group(1) if body else html)
    converter = _TextConverter(template=False)
    converter.feed(source)
    converter.close()
    return tidy_text(converter.result())


def html_template_to_text(source: str) -> str | None:
    """The source of a text template equivalent to the HTML template ``source``.

    Jinja2 tags pass through as text. Returns None when the HTML's structure depends on template
    logic in a way the conversion cannot reproduce (a loop inside a numbered list, a tag inside a
    tag); the caller then converts each rendered email instead.
    """
    # The whole source is kept (no cut to <body>): imports, macros and ``extends`` sit outside it.
    converter = _TextConverter(template=True)
    converter.feed(_TEMPLATE_NOISE.sub("", source))
    converter.close()
    if converter.unfollowable:
        return None
    return converter.result()


def tidy_text(text: str) -> str:
    """Trailing spaces removed, at most one blank line in a row, one final newline."""
    lines = [line.rstrip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip() + "\n"


class _TextConverter(HTMLParser):
    def __init__(self, *, template: bool) -> None:
        super().__init__(convert_charrefs=True)
        self._template = template
        self.unfollowable = False
        self._out: list[str] = []
        self._pending_breaks = 0
        self._at_start = True
        self._skip_tag: str | None = None
        self._skip_depth = 0
        self._links: list[tuple[str, int]] = []
        self._lists: list[list[int]] = []  # per open list: [is_ordered, next number]
        self._pre = 0
        self._heading_start: int | None = None

    # -- output ----------------------------------------------------------------------------------

    def _break(self, count: int) -> None:
        self._pending_breaks = max(self._pending_breaks, count)

    def _write(self, text: str) -> None:
        if not text:
            return
        if self._pending_breaks and not self._at_start:
            self._out.append("\n" * self._pending_breaks)
        self._pending_breaks = 0
        self._at_start = False
        self._out.append(text)

    def result(self) -> str:
        return "".join(self._out)

    # -- parser callbacks ------------------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip_tag is not None:
            if tag == self._skip_tag:
                self._skip_depth += 1
            return
        attributes = dict(attrs)
        if self._template and any(_JINJA.match(name) for name, _ in attrs):
            # Template logic between attributes ({% if %} class="..." {% endif %}) cannot be kept.
            self.unfollowable = True
        if tag in _SKIPPED or _HIDDEN_STYLE.search(attributes.get("style") or ""):
            if tag not in _VOID:
                self._skip_tag, self._skip_depth = tag, 1
            return
        self._open(tag, attributes)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._skip_tag is not None:
            if tag == self._skip_tag:
                self._skip_depth -= 1
                if self._skip_depth == 0:
                    self._skip_tag = None
            return
        self._close(tag)

    def handle_data(self, data: str) -> None:
        if self._skip_tag is not None:
            if self._template and _DEFINING.search(data):
                # Hidden content may define names (set, import, macro) that the visible part uses.
                self.unfollowable = True
            return
        if self._template and self._lists and self._lists[-1][0] and "{%" in data:
            # A loop or condition inside a numbered list: the numbers are only known per email.
            self.unfollowable = True
        if self._pre:
            self._write(data)
            return
        text = _SPACES.sub(" ", data)
        if self._at_start or self._pending_breaks or (self._out and self._out[-1].endswith((" ", "\n"))):
            text = text.lstrip()
        self._write(text)

    # -- elements --------------------------------------------------------------------------------

    def _open(self, tag: str, attributes: dict[str, str | None]) -> None:
        if tag in _BLOCKS:
            self._break(1 if tag in ("tr", "div", "dt", "dd") else 2)
            if tag in ("ul", "ol"):
                self._lists.append([tag == "ol", 1])
            elif tag == "pre":
                self._pre += 1
        elif tag in _HEADINGS:
            self._break(2)
            self._heading_start = None
        elif tag == "br":
            self._write("\n")
        elif tag == "hr":
            self._break(2)
            self._write("-" * 40)
            self._break(2)
        elif tag == "li":
            self._open_item()
        elif tag in ("td", "th"):
            if self._out and not self._pending_breaks and not self._out[-1].endswith((" ", "\n")):
                self._write(" ")
        elif tag == "a":
            self._links.append((attributes.get("href") or "", len(self._out)))
        elif tag == "img" and self._links:
            self._write(attributes.get("alt") or "")

    def _open_item(self) -> None:
        self._break(1)
        depth = max(len(self._lists) - 1, 0)
        if self._lists and self._lists[-1][0]:
            marker = f"{self._lists[-1][1]}. "
            self._lists[-1][1] += 1
        else:
            marker = "- "
        self._write("  " * depth + marker)

    def _close(self, tag: str) -> None:
        if tag in _BLOCKS:
            self._break(1 if tag in ("tr", "div", "dt", "dd") else 2)
            if tag in ("ul", "ol") and self._lists:
                self._lists.pop()
            elif tag == "pre":
                self._pre = max(self._pre - 1, 0)
        elif tag in _HEADINGS:
            self._underline(_HEADINGS[tag])
            self._break(2)
        elif tag == "li":
            self._break(1)
        elif tag == "a" and self._links:
            self._close_link()

    def _underline(self, rule: str) -> None:
        if not rule:
            return
        title = "".join(self._out).rsplit("\n", 1)[-1].strip()
        if title and not (self._template and _JINJA.search(title)):
            self._write("\n" + rule * len(title))

    def _close_link(self) -> None:
        href, start = self._links.pop()
        label = "".join(self._out[start:]).strip()
        target = href.strip()
        if target.lower().startswith("mailto:"):
            target = target[7:].split("?", 1)[0]
        elif not target.lower().startswith(("http://", "https://")) and not (
            self._template and target.startswith("{{")
        ):
            return
        if not label:
            self._write(target)
        elif label != target and label.rstrip("/") != target.rstrip("/"):
            self._write(f" ({target})")
