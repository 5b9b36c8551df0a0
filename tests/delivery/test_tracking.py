"""Tracked links, the open pixel and the unsubscribe link."""

from __future__ import annotations

import re

import pytest

from nurture.delivery.render import RenderedEmail
from nurture.delivery.tracking import LinkTracker
from nurture.tokens import InvalidToken, TokenSigner

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
    assert tracker.read_unsubscribe(url.rsplit("/", 1)[1]) == (4711, 815)


def test_links_to_the_tracking_server_itself_are_not_wrapped(tracker: LinkTracker) -> None:
    own = tracker.unsubscribe_url(4711, 815)
    email = tracker.track(RenderedEmail("s", f'<a href="{own}">Abmelden</a>', own), 4711)
    assert f'href="{own}"' in email.html
    assert email.text == own
