"""Tracked links, the open pixel and the unsubscribe link."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import escape, unescape
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from nurture.delivery.render import RenderedEmail
from nurture.delivery.tracking import LinkTracker
from nurture.delivery.urls import browser_url
from nurture.tokens import InvalidToken, TokenSigner

from .conftest import SECRET

BASE = "https://t.example.com"
UNSUBSCRIBE = "https://t.example.com/u/placeholder"

HTML = """<html><body>
<p><a href="https://example.com/pricing?utm_source=nurture&amp;utm_medium=email">Preise</a></p>
<p><a class='button' href='http://example.com/start'>Start</a></p>
<p><a href=https://example.com/bare>Unquoted</a></p>
<p><A HREF="https://example.com/upper" TITLE="a > b">Upper</A></p>
<p><a title="it's href=&quot;https://evil.example&quot;"
      href="https://example.com/after-title">Title first</a></p>
<p><a href="mailto:info@example.com">Mail</a> <a href="#top">Top</a> <a href="tel:+4989123">Call</a></p>
<p><a href="https://example.com/private" data-notrack>Not tracked</a></p>
<p><a href="{unsubscribe}">Abmelden</a></p>
<p><a name="anchor">No href</a></p>
</body></html>""".replace("{unsubscribe}", UNSUBSCRIBE)

TEXT = """Preise: https://example.com/pricing?utm_source=nurture&utm_medium=email.
Start (http://example.com/start)
Wikipedia: https://de.wikipedia.org/wiki/Marketing_(Begriff), oder
Abmelden: {unsubscribe}
Mail: info@example.com
""".replace("{unsubscribe}", UNSUBSCRIBE)


@pytest.fixture
def tracker(signer: TokenSigner) -> LinkTracker:
    return LinkTracker(signer, BASE + "/")


def tracked(tracker: LinkTracker) -> RenderedEmail:
    return tracker.track(RenderedEmail("Betreff", HTML, TEXT), 4711, unsubscribe_url=UNSUBSCRIBE)


def click_targets(tracker: LinkTracker, content: str) -> list[str]:
    tokens = re.findall(re.escape(BASE) + r"/c/([A-Za-z0-9_-]+)", content)
    targets = []
    for token in tokens:
        message, url = tracker.read_click(token)
        assert message == 4711
        targets.append(url)
    return targets


def test_every_web_link_is_rewritten_to_a_click_url(tracker: LinkTracker) -> None:
    email = tracked(tracker)
    assert click_targets(tracker, email.html) == [
        "https://example.com/pricing?utm_source=nurture&utm_medium=email",  # &amp; unescaped
        "http://example.com/start",
        "https://example.com/bare",
        "https://example.com/upper",
        "https://example.com/after-title",
    ]
    assert 'TITLE="a > b">Upper' in email.html
    assert "https://evil.example" not in click_targets(tracker, email.html)


def test_links_that_must_stay_are_left_alone(tracker: LinkTracker) -> None:
    html = tracked(tracker).html
    for kept in (
        'href="mailto:info@example.com"',
        'href="#top"',
        'href="tel:+4989123"',
        'href="https://example.com/private" data-notrack',
        f'href="{UNSUBSCRIBE}"',
        '<a name="anchor">',
    ):
        assert kept in html


def test_the_text_part_is_rewritten_too(tracker: LinkTracker) -> None:
    text = tracked(tracker).text
    assert click_targets(tracker, text) == [
        "https://example.com/pricing?utm_source=nurture&utm_medium=email",
        "http://example.com/start",
        "https://de.wikipedia.org/wiki/Marketing_(Begriff)",
    ]
    assert re.search(r"/c/[A-Za-z0-9_-]+\.\n", text), "the full stop stays outside the link"
    assert re.search(r"\(https://t\.example\.com/c/[A-Za-z0-9_-]+\)\n", text), (
        "so does the closing parenthesis"
    )
    assert f"Abmelden: {UNSUBSCRIBE}" in text


def test_the_same_link_gets_the_same_token_in_both_parts(tracker: LinkTracker) -> None:
    email = tracked(tracker)
    html_tokens = set(re.findall(r"/c/([A-Za-z0-9_-]+)", email.html))
    text_tokens = set(re.findall(r"/c/([A-Za-z0-9_-]+)", email.text))
    assert len(text_tokens - html_tokens) == 1  # only the Wikipedia link is text-only


def test_an_open_pixel_is_added_before_the_end_of_the_body(tracker: LinkTracker) -> None:
    html = tracked(tracker).html
    pixel = re.search(
        r'<img src="https://t\.example\.com/o/([A-Za-z0-9_-]+)\.gif" width="1" height="1" alt=""', html
    )
    assert pixel is not None
    assert html.index(pixel.group(0)) < html.index("</body>")
    assert tracker.read_open(pixel.group(1) + ".gif") == 4711


def test_html_without_a_body_gets_the_pixel_at_the_end(tracker: LinkTracker) -> None:
    html = tracker.track(RenderedEmail("s", "<p>Hallo</p>", "Hallo"), 1).html
    assert html.startswith("<p>Hallo</p><img src=")


def test_a_changed_click_token_is_refused(tracker: LinkTracker) -> None:
    token = re.findall(r"/c/([A-Za-z0-9_-]+)", tracked(tracker).html)[0]
    changed = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    with pytest.raises(InvalidToken):
        tracker.read_click(changed)
    # A click token is not an open token, nor an unsubscribe token.
    with pytest.raises(InvalidToken):
        tracker.read_open(token)
    with pytest.raises(InvalidToken):
        tracker.read_unsubscribe(token)


def test_a_click_token_cannot_be_pointed_elsewhere(tracker: LinkTracker, signer: TokenSigner) -> None:
    # Someone who knows the layout still cannot make a token for a URL of their choosing.
    forged = TokenSigner(b"a-guess-at-the-secret-key-000").sign("click", (4711, "https://evil.example"))
    with pytest.raises(InvalidToken):
        tracker.read_click(forged)


def test_unsubscribe_urls_carry_the_message_and_the_lead(tracker: LinkTracker) -> None:
    url = tracker.unsubscribe_url(4711, 815)
    assert url.startswith(BASE + "/u/")
    assert tracker.read_unsubscribe(url.rsplit("/", 1)[1]) == (4711, 815, None)
    topical = tracker.unsubscribe_url(4711, 815, "newsletter")
    assert tracker.read_unsubscribe(topical.rsplit("/", 1)[1]) == (4711, 815, "newsletter")


def test_links_to_the_tracking_server_itself_are_not_wrapped(tracker: LinkTracker) -> None:
    own = tracker.unsubscribe_url(4711, 815)
    email = tracker.track(RenderedEmail("s", f'<a href="{own}">Abmelden</a>', own), 4711)
    assert f'href="{own}"' in email.html
    assert email.text == own


# -- the rewriting matches a reference, whatever the markup -----------------------------------------
#
# ``ReferenceTracker`` is the rewriting in its plain form, before any shortcut was taken: every tag
# goes through the notrack search and the href parse, every part of the text through the URL
# search. ``LinkTracker.track`` must produce exactly the same email for any input.

_REF_LINK_TAG = re.compile(r"<a(?=[\s>/])(?:[^>\"']|\"[^\"]*\"|'[^']*')*>", re.IGNORECASE)
_REF_ATTRIBUTE = re.compile(r"""[\s/]+([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?""")
_REF_HREF = re.compile(r"""[\s/]href\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)
_REF_NOTRACK = re.compile(r"[\s/]data-notrack(?![\w-])", re.IGNORECASE)
_REF_TEXT_URL = re.compile(r"https?://[^\s<>\"'\[\]{}|\\^`]+", re.IGNORECASE)
_REF_TRAILING_PUNCTUATION = ".,;:!?*'\""
_REF_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


class ReferenceTracker:
    def __init__(self, signer: TokenSigner, base_url: str) -> None:
        self._signer = signer
        self.base_url = base_url.rstrip("/")
        self._own_prefix = self.base_url + "/"
        self._html_base = escape(self.base_url, quote=True)

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
                # Signed as a browser would request it (see nurture.delivery.urls).
                click = tokens[url] = self._signer.sign("click", (message_ref, browser_url(url)))
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
            if _REF_NOTRACK.search(tag, 2):
                return tag
            found = _reference_href(tag)
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

        return _REF_LINK_TAG.sub(rewrite_tag, html)

    def _rewrite_text(self, text: str, tracked: Callable[[str], str | None]) -> str:
        def rewrite_url(match: re.Match[str]) -> str:
            url, tail = _reference_split_trailing(match.group(0))
            click = tracked(url)
            if click is None:
                return match.group(0)
            return f"{self.base_url}/c/{click}{tail}"

        return _REF_TEXT_URL.sub(rewrite_url, text)

    def _add_pixel(self, html: str, message_ref: Any) -> str:
        pixel = (
            f'<img src="{self._html_base}/o/{self._signer.sign("open", (message_ref,))}.gif" width="1" '
            'height="1" alt="" style="display:block;width:1px;height:1px;border:0">'
        )
        end = html.rfind("</body>")
        if end < 0:
            matches = list(_REF_BODY_END.finditer(html))
            if not matches:
                return html + pixel
            end = matches[-1].start()
        return html[:end] + pixel + html[end:]


def _reference_href(tag: str) -> tuple[int, int, str] | None:
    """Where the ``href`` attribute of a start tag is (start, end) and its raw value."""
    found = _REF_HREF.search(tag, 2)
    if found is None:
        return None
    before = tag[: found.start()]
    if "'" not in before and before.count('"') % 2 == 0:
        # Only double-quoted values precede it, all closed: the match is a real attribute.
        value = found.group(1) if found.group(1) is not None else found.group(2) or found.group(3) or ""
        return found.start() + 1, found.end(), value
    # Other quoting before it: walk the attributes one by one to be sure.
    for attribute in _REF_ATTRIBUTE.finditer(tag, 2, len(tag) - 1):
        if attribute.group(1).lower() == "href":
            value = next((v for v in attribute.groups()[1:] if v is not None), "")
            return attribute.start(1), attribute.end(), value
    return None


def _reference_split_trailing(url: str) -> tuple[str, str]:
    """Split punctuation that ends the sentence, not the URL, off a URL found in text."""
    end = len(url)
    while end > 0:
        char = url[end - 1]
        if char in _REF_TRAILING_PUNCTUATION or (
            char == ")" and url.count("(", 0, end) < url.count(")", 0, end)
        ):
            end -= 1
        else:
            break
    return url[:end], url[end:]


_URLS = [
    "https://example.com/a?x=1&y=2",
    "http://example.com/b_(c)",
    "HTTPS://Example.com/C",
    "hTtP://example.com/d",
    "https://example.com/e&amp;f",
    "https://example.com/&#x26;g&quot;",
    "&#104;ttps://example.com/entity-scheme",
    "https&#58;//example.com/entity-colon",
    "http\u017f://example.com/long-s",
    "hhttps://example.com/doubled",
    "https://",
    "  https://example.com/spaced  ",
    "https://example.com/p?c=ACME GmbH&d=Müller",
    "mailto:info@example.com",
    "tel:+4989123",
    "#top",
    "/relative/path",
    "",
    UNSUBSCRIBE,
    BASE + "/c/already-tracked",
    BASE + "x/not-ours",
    "https://example.com/x>y",
    "https://example.com/it's",
    'https://example.com/"quoted"',
]
_SPACES = [" ", "  ", "\n", "\t", "\r\n ", "/", " / "]
_NAMES = [
    "href",
    "HREF",
    "Href",
    "class",
    "title",
    "style",
    "data-notrack",
    "DATA-NoTrack",
    "data-notrack-not",
    "data-notracking",
    "data-notrac\u212a",
    "xhref",
    "href-lang",
]
_TEXT = [
    "Hallo ",
    "<p>",
    "</p>",
    "<br/>",
    "<abbr title=x>",
    "<a>",
    "<A/>",
    "</a>",
    "</body>",
    "</BODY >",
    "\n",
    " (",
    ") ",
    ".",
    ", ",
    "://",
    "x://",
    '"',
    "'",
    "&amp;",
    "Grüße – ",
    "\u2028",
]


def _quoted(value: str) -> st.SearchStrategy[str]:
    return st.sampled_from(['="{}"', "='{}'", "={}", ' = "{}"', "\n=\n'{}'", ""]).map(
        lambda form: form.format(value)
    )


attributes = st.builds(
    lambda space, name, value: space + name + value,
    st.sampled_from(_SPACES),
    st.sampled_from(_NAMES),
    st.sampled_from(
        [*_URLS, "a > b", "it's", 'say "hi"', "x href=https://evil.example", "x/href=http://y.example"]
    ).flatmap(_quoted),
)
tags = st.builds(
    lambda opening, parts, end: opening + "".join(parts) + end,
    st.sampled_from(["<a", "<A", "<a\n", "<a/"]),
    st.lists(attributes, max_size=4),
    st.sampled_from([">", " >", "/>", "\n>", ""]),
)
# A well-formed link with an href somewhere among its attributes, so most examples rewrite something.
links = st.builds(
    lambda opening, before, space, name, value, after: (
        opening + "".join(before) + space + name + value + "".join(after) + ">"
    ),
    st.sampled_from(["<a", "<A"]),
    st.lists(attributes, max_size=2),
    st.sampled_from(_SPACES),
    st.sampled_from(["href", "HREF"]),
    st.sampled_from(_URLS).flatmap(_quoted),
    st.lists(attributes, max_size=2),
)
text_urls = st.builds(
    lambda url, tail: url + tail,
    st.sampled_from(_URLS),
    st.sampled_from(["", ".", "),", "!?", ")", "'", "*", " ", "\n", ">", "x"]),
)
noise = st.text(alphabet="<>aA\"'= /\nhrefHREF:tps&;#().,x-", max_size=12)
html_parts = st.lists(st.one_of(links, tags, st.sampled_from(_TEXT), text_urls, noise), max_size=12)
text_parts = st.lists(st.one_of(text_urls, st.sampled_from(_TEXT), noise), max_size=12)


@settings(max_examples=250, deadline=None)
@example(  # URLs packed tightly: each "://" four or five characters after the end of the last URL
    html='<a href="https://a.example/1"><a href="https://a.example/2">',
    text="https://a.example/1 http://a.example/2\nhttps://a.example/3>hhttp://a.example/4,x://",
    base=BASE,
)
@example(  # an href inside another attribute's quoted value; parentheses around and inside a URL
    html="<a title='x href=https://evil.example' href=\"https://a.example/5\">",
    text="(https://a.example/6) https://a.example/b_(c)), https://a.example/(d)",
    base=BASE,
)
@given(html=html_parts.map("".join), text=text_parts.map("".join), base=st.sampled_from([BASE, BASE + "/"]))
def test_track_matches_the_reference_rewriting(html: str, text: str, base: str) -> None:
    signer = TokenSigner(SECRET)
    email = RenderedEmail("Betreff", html, text)
    expected = ReferenceTracker(signer, base).track(email, 4711, unsubscribe_url=UNSUBSCRIBE)
    assert LinkTracker(signer, base).track(email, 4711, unsubscribe_url=UNSUBSCRIBE) == expected


def test_lead_data_with_spaces_is_signed_as_a_browser_would_request_it(
    tracker: LinkTracker, signer: TokenSigner
) -> None:
    html = '<a href="https://shop.example/p?c=ACME GmbH&amp;city=Köln#Top Angebote">x</a>'
    tracked = tracker.track(RenderedEmail("s", html, ""), 4711)
    token = re.search(r"/c/([^\"]+)", tracked.html)
    assert token is not None
    assert tracker.read_click(token[1]) == (
        4711, "https://shop.example/p?c=ACME%20GmbH&city=K%C3%B6ln#Top%20Angebote"
    )


@pytest.mark.parametrize(
    ("written", "requested"),
    [
        ("https://x.example/p?c=ACME GmbH", "https://x.example/p?c=ACME%20GmbH"),
        ("  https://x.example/a b\n ", "https://x.example/a%20b"),
        ("https://x.example/p?q=\"<'x'>\"", "https://x.example/p?q=%22%3C%27x%27%3E%22"),
        ("https://x.example/`{p}`?q={a}", "https://x.example/%60%7Bp%7D%60?q={a}"),
        ("https://Müller.example/Straße", "https://xn--mller-kva.example/Stra%C3%9Fe"),
        ("https://x.example/%20kept?q=%C3%B6", "https://x.example/%20kept?q=%C3%B6"),
        ("https://x.example/p?", "https://x.example/p?"),
        ("mailto:a b@x.example", "mailto:a b@x.example"),
    ],
)
def test_browser_url_encodes_as_whatwg_says(written: str, requested: str) -> None:
    assert browser_url(written) == requested
