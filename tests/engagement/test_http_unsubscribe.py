"""Unsubscribe over a real socket: a GET only asks, the RFC 8058 POST unsubscribes at once."""

from __future__ import annotations

import httpx

from nurture.store.schema import enrollments, leads
from nurture.tokens import TokenSigner
from tests.engagement.conftest import NOW, Live, Mailroom

ONE_CLICK = {"content-type": "application/x-www-form-urlencoded"}


def test_a_get_shows_a_page_and_never_unsubscribes(live: Live, mailroom: Mailroom) -> None:
    lead_id = mailroom.lead("lena@alpenblick.de")
    mailroom.enrollment(lead_id)
    url = live.tracker.unsubscribe_url(mailroom.message(lead_id), lead_id)
    for _ in range(3):  # link scanners and prefetchers follow GET links, more than once
        page = live.client.get(url, headers={"accept-language": "de-DE,de;q=0.9,en;q=0.8"})
        assert page.status_code == 200
    assert "Von unseren E-Mails abmelden?" in page.text
    assert "le***@alpenblick.de" in page.text and "lena@alpenblick.de" not in page.text
    assert '<form method="post"' in page.text
    assert mailroom.row(leads, id=lead_id).unsubscribed_at is None
    assert mailroom.row(enrollments, lead_id=lead_id).status == "active"
    assert mailroom.event_count() == 0


def test_the_one_click_post_unsubscribes_without_cookies_or_redirect(live: Live, mailroom: Mailroom) -> None:
    lead_id = mailroom.lead("lena@alpenblick.de")
    enrollment_id = mailroom.enrollment(lead_id)
    url = live.tracker.unsubscribe_url(mailroom.message(lead_id, enrollment_id=enrollment_id), lead_id)
    # A mail provider's one-click request: a bare POST, no cookies, no session, no referrer.
    with httpx.Client(timeout=10) as bare:
        response = bare.post(url, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
    assert response.status_code == 200
    assert "location" not in response.headers and "set-cookie" not in response.headers
    assert "You are unsubscribed." in response.text
    assert mailroom.row(leads, id=lead_id).unsubscribed_at == NOW
    row = mailroom.row(enrollments, id=enrollment_id)
    assert (row.status, row.exit_reason) == ("exited", "unsubscribed")
    (event,) = mailroom.events()
    assert (event.type, event.properties) == ("unsubscribe", {"source": "one_click"})
    # Mail systems retry; the second POST is answered the same and records nothing.
    assert live.client.post(url, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK).status_code == 200
    assert mailroom.event_count() == 1
    metrics = live.metrics()
    assert 'nurture_unsubscribes_total{channel="one_click"} 1.0' in metrics


def test_the_pages_button_unsubscribes_too(live: Live, mailroom: Mailroom) -> None:
    lead_id = mailroom.lead("lena@alpenblick.de")
    url = live.tracker.unsubscribe_url(mailroom.message(lead_id), lead_id)
    response = live.client.post(url, data={"confirm": "yes"})
    assert response.status_code == 200
    (event,) = mailroom.events()
    assert event.properties == {"source": "page"}
    # Afterwards the page says so instead of asking again.
    assert "You are unsubscribed." in live.client.get(url).text


def test_a_forged_unsubscribe_token_is_refused_and_changes_nothing(
    live: Live, mailroom: Mailroom, signer: TokenSigner
) -> None:
    lead_id = mailroom.lead("lena@alpenblick.de")
    other = mailroom.lead("max@bergwerk.at", first_name="Max")
    message_id = mailroom.message(lead_id)
    good = live.tracker.unsubscribe_url(message_id, lead_id).rsplit("/", 1)[1]
    forged = [
        good[:12] + ("A" if good[12] != "A" else "B") + good[13:],
        good[:-2],
        signer.sign("click", (message_id, other)),  # a click token on the unsubscribe route
        TokenSigner(b"somebody-else's-key-0123456789").sign("unsubscribe", (message_id, other)),
    ]
    for token in forged:
        assert (
            live.client.post(
                f"/u/{token}", content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK
            ).status_code
            == 404
        )
        assert live.client.get(f"/u/{token}").status_code == 404
    assert mailroom.row(leads, id=other).unsubscribed_at is None
    assert mailroom.event_count() == 0


def test_an_erased_lead_is_told_it_is_unsubscribed(live: Live, mailroom: Mailroom) -> None:
    url = live.tracker.unsubscribe_url(41, 4242)  # the lead and message are gone
    response = live.client.post(url, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
    assert response.status_code == 200 and "this address" in response.text
    assert mailroom.event_count() == 0


def test_lead_data_on_the_page_is_escaped(live: Live, mailroom: Mailroom) -> None:
    lead_id = mailroom.lead("o'<b>x</b>@firma.de")
    page = live.client.get(live.tracker.unsubscribe_url(mailroom.message(lead_id), lead_id)).text
    assert "<b>" not in page and "o&#39;***@firma.de" in page
