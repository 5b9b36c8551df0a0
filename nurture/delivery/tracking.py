"""Tracked links, the open pixel and the unsubscribe link of one email.

Every ``http(s)`` link in the HTML and text parts becomes ``{base_url}/c/{token}``; the click token
carries the message and the exact original URL, so the redirect endpoint can only ever send a reader
to a URL that was in the email (no open redirect) and needs no database lookup to do it. Links are
left alone when they are ``mailto:``, anchors, the unsubscribe link, already point at the tracking
server, or carry ``data-notrack``. An invisible 1×1 image ``{base_url}/o/{token}.gif`` records opens.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from html import escape, unescape
from typing import Any

from nurture.delivery.render import RenderedEmail
from nurture.delivery.urls import browser_url
from nurture.tokens import InvalidToken, TokenSigner

CLICK = "click"
OPEN = "open"
UNSUBSCRIBE = "unsubscribe"

# An <a> start tag, tolerating ">" inside quoted attribute values. Each character of the tag can be
# read only one way, so the possessive quantifiers change no match; they let a long run of plain
# characters be taken in one step instead of one alternation per character.
_LINK_TAG = re.compile(r"<a(?=[\s>/])(?:[^>\"']++|\"[^\"]*+\"|'[^']*+')*+>", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"""[\s/]+([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?""")
_HREF = re.compile(r"""[\s/]href\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)
_NOTRACK = re.compile(r"[\s/]data-notrack(?![\w-])", re.IGNORECASE)
_TEXT_URL = re.compile(r"https?://[^\s<>\"'\[\]{}|\\^`]+", re.IGNORECASE)
_TRAILING_PUNCTUATION = ".,;:!?*'\""
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
_WEB_SCHEMES = ("https://", "http://")
_PIXEL_SUFFIX = '.gif" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0">'


class LinkTracker:
    """Signs tracking URLs for the tracking server at ``base_url``."""

    def __init__(self, signer: TokenSigner, base_url: str) -> None:
        self._signer = signer
        self.base_url = base_url.rstrip("/")
        self._own_prefix = self.base_url + "/"
        self._html_base = escape(self.base_url, quote=True)
        # The constant parts of every rewritten link and of the pixel, joined once.
        self._click_prefix = f"{self.base_url}/c/"
        self._html_href_prefix = f'href="{self._html_base}/c/'
        self._pixel_prefix = f'<img src="{self._html_base}/o/'

    # -- URLs --------------------------------------------------------------------------------------

    def unsubscribe_url(self, message_ref: Any, lead_ref: Any, topic: str | None = None) -> str:
        """The unsubscribe URL for a message to a lead (also used in List-Unsubscribe): it names the
        subscription topic the one-click POST leaves (RFC 8058: the list the header is for).
        Without a topic (a transactional email, emails sent before topics) it names none."""
        payload = (message_ref, lead_ref) if topic is None else (message_ref, lead_ref, topic)
        return f"{self.base_url}/u/{self._signer.sign(UNSUBSCRIBE, payload)}"

    def click_url(self, message_ref: Any, url: str) -> str:
        """The redirect URL that records a click on ``url`` in the message."""
        return f"{self.base_url}/c/{self._signer.sign(CLICK, (message_ref, url))}"

    def open_pixel_url(self, message_ref: Any) -> str:
        """The URL of the message's open pixel."""
        return f"{self.base_url}/o/{self._signer.sign(OPEN, (message_ref,))}.gif"

    # -- reading tokens back (the tracking server) ------------------------------------------------

    def read_click(self, token: str) -> tuple[Any, str]:
        """(message reference, original URL) from a click token; :class:`InvalidToken` if forged."""
        payload = self._signer.verify(CLICK, token)
        if not isinstance(payload, tuple) or len(payload) != 2 or not isinstance(payload[1], str):
            raise InvalidToken("not a click token")
        return payload[0], payload[1]

    def read_open(self, token: str) -> Any:
        """The message reference from an open-pixel token (with or without ``.gif``)."""
        payload = self._signer.verify(OPEN, token.removesuffix(".gif"))
        if not isinstance(payload, tuple) or len(payload) != 1:
            raise InvalidToken("not an open token")
        return payload[0]

    def read_unsubscribe(self, token: str) -> tuple[Any, Any, str | None]:
        """(message reference, lead reference, topic or None) from an unsubscribe token."""
        payload = self._signer.verify(UNSUBSCRIBE, token)
        if not isinstance(payload, tuple) or len(payload) not in (2, 3):
            raise InvalidToken("not an unsubscribe token")
        topic = payload[2] if len(payload) == 3 else None
        if topic is not None and not isinstance(topic, str):
            raise InvalidToken("not an unsubscribe token")
        return payload[0], payload[1], topic

    # -- rewriting ---------------------------------------------------------------------------------

    def track(
        self, email: RenderedEmail, message_ref: Any, *, unsubscribe_url: str | None = None
    ) -> RenderedEmail:
        """``email`` with tracked links in both parts and the open pixel in the HTML."""
        signer, own_prefix = self._signer, self._own_prefix
        # A URL found in both parts is signed once.
        tokens: dict[str, str] = {}

        def tracked(url: str) -> str | None:
            click = tokens.get(url)
            if click is None:
                if url == unsubscribe_url or url.startswith(own_prefix) or not _is_web(url):
                    return None
                # Signed as a browser would request it: lead data with a space still links.
                click = tokens[url] = signer.sign(CLICK, (message_ref, browser_url(url)))
            return click

        html = self._rewrite_html(email.html, tracked) if email.html else email.html
        if html:
            html = self._add_pixel(html, message_ref)
        text = self._rewrite_text(email.text, tracked)
        return RenderedEmail(email.subject, html, text)

    def _rewrite_html(self, html: str, tracked: Callable[[str], str | None]) -> str:
        # Only the href values change: copy the HTML between them instead of rebuilding each tag.
        href_prefix = self._html_href_prefix
        pieces: list[str] = []
        copied = 0
        for match in _LINK_TAG.finditer(html):
            tag = match[0]
            found = _href(tag)
            if found is None or _has_notrack(tag):
                continue
            start, end, value = found
            click = tracked(_href_url(value))
            if click is not None:
                offset = match.start()
                pieces += (html[copied : offset + start], href_prefix, click, '"')
                copied = offset + end
        if not pieces:
            return html
        pieces.append(html[copied:])
        return "".join(pieces)

    def _rewrite_text(self, text: str, tracked: Callable[[str], str | None]) -> str:
        click_prefix = self._click_prefix
        pieces: list[str] = []
        copied = 0
        for match in _text_urls(text):
            url, tail = _split_trailing(match.group(0))
            click = tracked(url)
            if click is not None:
                pieces += (text[copied : match.start()], click_prefix, click, tail)
                copied = match.end()
        if not pieces:
            return text
        pieces.append(text[copied:])
        return "".join(pieces)

    def _add_pixel(self, html: str, message_ref: Any) -> str:
        pixel = self._pixel_prefix + self._signer.sign(OPEN, (message_ref,)) + _PIXEL_SUFFIX
        end = html.rfind("</body>")
        if end < 0:
            matches = list(_BODY_END.finditer(html))
            if not matches:
                return html + pixel
            end = matches[-1].start()
        return html[:end] + pixel + html[end:]


def _is_web(url: str) -> bool:
    """Whether ``url`` is an http(s) URL, in any letter case."""
    # Nearly every link is written in lowercase; only the rest pays for lowering.
    return url.startswith(_WEB_SCHEMES) or url[:8].lower().startswith(_WEB_SCHEMES)


def _has_notrack(tag: str) -> bool:
    """Whether a start tag carries the ``data-notrack`` attribute."""
    # The regular expression is slow on long tags; a tag without the letters cannot match it.
    # Only the ASCII letters of "data-notrac" match them case-blind, and lower() keeps each one
    # in place, so the substring test never skips a tag the expression would match.
    return "data-notrac" in tag.lower() and _NOTRACK.search(tag, 2) is not None


def _href_url(value: str) -> str:
    """The URL an ``href`` attribute value stands for: entities decoded, outer spaces removed."""
    if "&" not in value:
        return value.strip()
    # "&amp;" is by far the most common entity in a URL; the general decoder is slower.
    if value.count("&") == value.count("&amp;"):
        return value.replace("&amp;", "&").strip()
    return unescape(value).strip()


def _href(tag: str) -> tuple[int, int, str] | None:
    """Where the ``href`` attribute of a start tag is (start, end) and its raw value."""
    found = _HREF.search(tag, 2)
    if found is None:
        return None
    start = found.start()
    if tag.find("'", 0, start) < 0 and tag.count('"', 0, start) % 2 == 0:
        # Only double-quoted values precede it, all closed: the match is a real attribute.
        double, single, bare = found.groups()
        return start + 1, found.end(), double if double is not None else single or bare or ""
    # Other quoting before it: walk the attributes one by one to be sure.
    for attribute in _ATTRIBUTE.finditer(tag, 2, len(tag) - 1):
        if attribute.group(1).lower() == "href":
            value = next((v for v in attribute.groups()[1:] if v is not None), "")
            return attribute.start(1), attribute.end(), value
    return None


def _text_urls(text: str) -> Iterator[re.Match[str]]:
    """The matches of ``_TEXT_URL.finditer(text)``, found without running it over all of ``text``.

    The expression cannot skip ahead on its case-blind ``http``, so searching with it tries every
    position. Every match has "://" four or five characters after its start, and the string search
    for that is fast; the expression then only runs at those two places. Matches never overlap, so
    a place before the end of the previous match is not tried, just as ``finditer`` resumes there.
    """
    resume = 0
    colon = text.find("://", 4)
    while colon >= 0:
        match = _TEXT_URL.match(text, colon - 5) if colon - 5 >= resume else None
        if match is None and colon - 4 >= resume:
            match = _TEXT_URL.match(text, colon - 4)
        if match is None:
            colon = text.find("://", colon + 1)
        else:
            yield match
            resume = match.end()
            colon = text.find("://", resume + 4)


def _split_trailing(url: str) -> tuple[str, str]:
    """Split punctuation that ends the sentence, not the URL, off a URL found in text."""
    if url[-1] not in _TRAILING_PUNCTUATION and url[-1] != ")":
        return url, ""
    end = len(url)
    while end > 0:
        char = url[end - 1]
        if char in _TRAILING_PUNCTUATION or (char == ")" and url.count("(", 0, end) < url.count(")", 0, end)):
            end -= 1
        else:
            break
    return url[:end], url[end:]
