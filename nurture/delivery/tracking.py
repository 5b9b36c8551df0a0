"""Tracked links, the open pixel and the unsubscribe link of one email.

Every ``http(s)`` link in the HTML and text parts becomes ``{base_url}/c/{token}``; the click token
carries the message and the exact original URL, so the redirect endpoint can only ever send a reader
to a URL that was in the email (no open redirect) and needs no database lookup to do it. Links are
left alone when they are ``mailto:``, anchors, the unsubscribe link, already point at the tracking
server, or carry ``data-notrack``. An invisible 1×1 image ``{base_url}/o/{token}.gif`` records opens.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html import escape, unescape
from typing import Any

from nurture.delivery.render import RenderedEmail
from nurture.tokens import InvalidToken, TokenSigner

CLICK = "click"
OPEN = "open"
UNSUBSCRIBE = "unsubscribe"

# An <a> start tag, tolerating ">" inside quoted attribute values.
_LINK_TAG = re.compile(r"<a(?=[\s>/])(?:[^>\"']|\"[^\"]*\"|'[^']*')*>", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"""[\s/]+([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?""")
_HREF = re.compile(r"""[\s/]href\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)
_NOTRACK = re.compile(r"[\s/]data-notrack(?![\w-])", re.IGNORECASE)
_TEXT_URL = re.compile(r"https?://[^\s<>\"'\[\]{}|\\^`]+", re.IGNORECASE)
_TRAILING_PUNCTUATION = ".,;:!?*'\""
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


class LinkTracker:
    """Signs tracking URLs for the tracking server at ``base_url``."""

    def __init__(self, signer: TokenSigner, base_url: str) -> None:
        self._signer = signer
        self.base_url = base_url.rstrip("/")
        self._own_prefix = self.base_url + "/"
        self._html_base = escape(self.base_url, quote=True)

    # -- URLs --------------------------------------------------------------------------------------

    def unsubscribe_url(self, message_ref: Any, lead_ref: Any) -> str:
        """The one-click unsubscribe URL for a message to a lead (also used in List-Unsubscribe)."""
        return f"{self.base_url}/u/{self._signer.sign(UNSUBSCRIBE, (message_ref, lead_ref))}"

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

    def read_unsubscribe(self, token: str) -> tuple[Any, Any]:
        """(message reference, lead reference) from an unsubscribe token."""
        payload = self._signer.verify(UNSUBSCRIBE, token)
        if not isinstance(payload, tuple) or len(payload) != 2:
            raise InvalidToken("not an unsubscribe token")
        return payload[0], payload[1]

    # -- rewriting ---------------------------------------------------------------------------------

    def track(
        self, email: RenderedEmail, message_ref: Any, *, unsubscribe_url: str | None = None
    ) -> RenderedEmail:
        """``email`` with tracked links in both parts and the open pixel in the HTML."""
        tokens: dict[str, str] = {}

        def tracked(url: str) -> str | None:
            if not self._trackable(url, unsubscribe_url):
                return None
            click = tokens.get(url)
            if click is None:
                click = tokens[url] = self._signer.sign(CLICK, (message_ref, url))
            return click

        html = self._rewrite_html(email.html, tracked) if email.html else email.html
        if html:
            html = self._add_pixel(html, message_ref)
        text = self._rewrite_text(email.text, tracked)
        return RenderedEmail(email.subject, html, text)

    def _trackable(self, url: str, unsubscribe_url: str | None) -> bool:
        lowered = url[:8].lower()
        if not (lowered.startswith("https://") or lowered.startswith("http://")):
            return False
        return url != unsubscribe_url and not url.startswith(self._own_prefix)

    def _rewrite_html(self, html: str, tracked: Callable[[str], str | None]) -> str:
        def rewrite_tag(match: re.Match[str]) -> str:
            tag = match.group(0)
            if _NOTRACK.search(tag, 2):
                return tag
            found = _href(tag)
            if found is None:
                return tag
            start, end, value = found
            if "&" in value:
                # "&amp;" is by far the most common entity in a URL; the general decoder is slower.
                if value.count("&") == value.count("&amp;"):
                    value = value.replace("&amp;", "&")
                else:
                    value = unescape(value)
            click = tracked(value.strip())
            if click is None:
                return tag
            return f'{tag[:start]}href="{self._html_base}/c/{click}"{tag[end:]}'

        return _LINK_TAG.sub(rewrite_tag, html)

    def _rewrite_text(self, text: str, tracked: Callable[[str], str | None]) -> str:
        def rewrite_url(match: re.Match[str]) -> str:
            url, tail = _split_trailing(match.group(0))
            click = tracked(url)
            if click is None:
                return match.group(0)
            return f"{self.base_url}/c/{click}{tail}"

        return _TEXT_URL.sub(rewrite_url, text)

    def _add_pixel(self, html: str, message_ref: Any) -> str:
        pixel = (
            f'<img src="{self._html_base}/o/{self._signer.sign(OPEN, (message_ref,))}.gif" width="1" '
            'height="1" alt="" style="display:block;width:1px;height:1px;border:0">'
        )
        end = html.rfind("</body>")
        if end < 0:
            matches = list(_BODY_END.finditer(html))
            if not matches:
                return html + pixel
            end = matches[-1].start()
        return html[:end] + pixel + html[end:]


def _href(tag: str) -> tuple[int, int, str] | None:
    """Where the ``href`` attribute of a start tag is (start, end) and its raw value."""
    found = _HREF.search(tag, 2)
    if found is None:
        return None
    before = tag[: found.start()]
    if "'" not in before and before.count('"') % 2 == 0:
        # Only double-quoted values precede it, all closed: the match is a real attribute.
        value = found.group(1) if found.group(1) is not None else found.group(2) or found.group(3) or ""
        return found.start() + 1, found.end(), value
    # Other quoting before it: walk the attributes one by one to be sure.
    for attribute in _ATTRIBUTE.finditer(tag, 2, len(tag) - 1):
        if attribute.group(1).lower() == "href":
            value = next((v for v in attribute.groups()[1:] if v is not None), "")
            return attribute.start(1), attribute.end(), value
    return None


def _split_trailing(url: str) -> tuple[str, str]:
    """Split punctuation that ends the sentence, not the URL, off a URL found in text."""
    end = len(url)
    while end > 0:
        char = url[end - 1]
        if char in _TRAILING_PUNCTUATION or (char == ")" and url.count("(", 0, end) < url.count(")", 0, end)):
            end -= 1
        else:
            break
    return url[:end], url[end:]
