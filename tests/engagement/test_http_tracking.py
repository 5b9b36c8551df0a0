"""The open pixel and click redirect over a real socket: recording, forged tokens, machine flags."""

from __future__ import annotations

from datetime import timedelta

import pytest

from nurture.clock import FixedClock
from nurture.delivery.tracking import LinkTracker
from nurture.tokens import TokenSigner
from tests.engagement.conftest import BROWSER, NOW, SECRET, Live, Mailroom

TARGET = "https://www.taktwerk.example/fallstudie?utm_source=nurture&x=a|b{c}"


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1].removesuffix(".gif")


def test_an_open_is_recorded_with_campaign_and_step_and_answered_with_a_gif(
    live: Live, mailroom: Mailroom
) -> None:
    lead_id = mailroom.lead("lena@alpenblick.de")
    message_id = mailroom.message(lead_id, step="welcome")
    response = live.client.get(live.tracker.open_pixel_url(message_id), headers={"user-agent": BROWSER})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert len(response.content) == 43 and response.content.startswith(b"GIF89a")
    assert "no-store" in response.headers["cache-control"] and response.headers["expires"] == "0"
    (event,) = mailroom.events()
    assert (event.type, event.lead_id, event.message_id, event.campaign_key, event.step_id) == (
        "email_open", lead_id, message_id, "trial", "welcome",
    )  # fmt: skip
    assert (event.occurred_at, event.machine_reason) == (NOW, None)


def test_a_click_redirects_to_exactly_the_signed_url_and_is_recorded(live: Live, mailroom: Mailroom) -> None:
    lead_id = mailroom.lead("lena@alpenblick.de")
    message_id = mailroom.message(lead_id, step="case-study")
    response = live.client.get(live.tracker.click_url(message_id, TARGET), headers={"user-agent": BROWSER})
    assert response.status_code == 302
    assert response.headers["location"] == TARGET
    assert response.headers["referrer-policy"] == "no-referrer"
    (event,) = mailroom.events()
    assert (event.type, event.url, event.step_id, event.machine_reason) == (
        "email_click", TARGET, "case-study", None,
    )  # fmt: skip


def test_a_non_ascii_target_is_percent_encoded_not_changed_otherwise(live: Live, mailroom: Mailroom) -> None:
    message_id = mailroom.message(mailroom.lead("lena@alpenblick.de"))
    response = live.client.get(live.tracker.click_url(message_id, "https://bäckerei.example/grüße?a=ü"))
    # As a browser requests it: the domain in punycode, path and query percent-encoded (WHATWG).
    assert response.headers["location"] == "https://xn--bckerei-5wa.example/gr%C3%BC%C3%9Fe?a=%C3%BC"


@pytest.mark.parametrize(
    ("signed", "location"),
    [
        # Lead data written into a link: "?c={{ lead.company }}" for ACME GmbH, in emails sent
        # before links were encoded when rewritten, and now.
        ("https://shop.example/p?c=ACME GmbH", "https://shop.example/p?c=ACME%20GmbH"),
        ("https://shop.example/p?c=ACME%20GmbH", "https://shop.example/p?c=ACME%20GmbH"),
        (" https://shop.example/a b\t#x y", "https://shop.example/a%20b#x%20y"),
    ],
)
def test_a_target_with_spaces_is_encoded_as_a_browser_would(
    live: Live, mailroom: Mailroom, signed: str, location: str
) -> None:
    message_id = mailroom.message(mailroom.lead("lena@alpenblick.de"))
    response = live.client.get(live.tracker.click_url(message_id, signed))
    assert response.status_code == 302 and response.headers["location"] == location


@pytest.mark.parametrize(
    "signed", ["javascript:alert(1)", "https:///no-host", "data:text/html,x", "//evil.example/", "https://\x00x"]
)
def test_a_signed_target_that_is_not_a_web_address_is_still_refused(
    live: Live, mailroom: Mailroom, signed: str
) -> None:
    message_id = mailroom.message(mailroom.lead("lena@alpenblick.de"))
    response = live.client.get(live.tracker.click_url(message_id, signed))
    assert response.status_code == 404 and "location" not in response.headers


def forgeries(signer: TokenSigner, good: str, message_id: int) -> list[str]:
    changed = good[:10] + ("A" if good[10] != "A" else "B") + good[11:]
    return [
        changed,
        good[:-3],  # truncated
        signer.sign("open", (message_id,)),  # an open token on the click route
        signer.sign("unsubscribe", (message_id, TARGET)),
        TokenSigner(b"somebody-else's-key-0123456789").sign("click", (message_id, "https://evil.example/")),
        "not-a-token",
    ]


def test_a_changed_or_swapped_click_token_is_refused_records_nothing_and_never_redirects(
    live: Live, mailroom: Mailroom, signer: TokenSigner
) -> None:
    message_id = mailroom.message(mailroom.lead("lena@alpenblick.de"))
    good = token_of(live.tracker.click_url(message_id, TARGET))
    for forged in forgeries(signer, good, message_id):
        response = live.client.get(f"/c/{forged}")
        assert response.status_code == 404, forged
        assert "location" not in response.headers
        assert "This link is not valid" in response.text
    assert mailroom.event_count() == 0
    # A genuine token whose signed URL is not http(s) is not followed either.
    javascript = token_of(live.tracker.click_url(message_id, "javascript:alert(1)"))
    assert live.client.get(f"/c/{javascript}").status_code == 404


def test_a_forged_open_token_records_nothing_but_still_gets_the_gif(
    live: Live, mailroom: Mailroom, signer: TokenSigner
) -> None:
    message_id = mailroom.message(mailroom.lead("lena@alpenblick.de"))
    good = token_of(live.tracker.open_pixel_url(message_id))
    for forged in [
        good[:-1] + ("A" if good[-1] != "A" else "B"),
        good[:-4],
        signer.sign("click", (message_id,)),
    ]:
        response = live.client.get(f"/o/{forged}.gif")
        assert response.status_code == 200 and response.content.startswith(b"GIF89a")
    assert mailroom.event_count() == 0
    assert 'nurture_refused_tokens_total{route="open"} 3.0' in live.metrics()


def test_links_made_before_a_restart_keep_working(live: Live, mailroom: Mailroom) -> None:
    message_id = mailroom.message(mailroom.lead("lena@alpenblick.de"))
    # Made by another process earlier (the sender), with nothing but the workspace's secret key.
    sent_link = LinkTracker(TokenSigner(SECRET), live.url).click_url(message_id, TARGET)
    assert live.client.get(sent_link).headers["location"] == TARGET
    assert sent_link == live.tracker.click_url(message_id, TARGET)  # tokens are deterministic


def test_a_head_request_is_answered_but_not_recorded(live: Live, mailroom: Mailroom) -> None:
    message_id = mailroom.message(mailroom.lead("lena@alpenblick.de"))
    assert live.client.head(live.tracker.click_url(message_id, TARGET)).status_code == 302
    assert live.client.head(live.tracker.open_pixel_url(message_id)).status_code == 200
    assert mailroom.event_count() == 0


def test_a_sales_notification_is_not_the_leads_engagement(live: Live, mailroom: Mailroom) -> None:
    message_id = mailroom.message(mailroom.lead("lena@alpenblick.de"), kind="sales_notification")
    assert live.client.get(live.tracker.click_url(message_id, TARGET)).headers["location"] == TARGET
    assert mailroom.event_count() == 0


class TestMachineFlags:
    def test_a_scanner_agent_click_is_flagged(self, live: Live, mailroom: Mailroom) -> None:
        message_id = mailroom.message(mailroom.lead("lena@alpenblick.de"))
        live.client.get(live.tracker.click_url(message_id, TARGET), headers={"user-agent": "Barracuda/1.0"})
        (event,) = mailroom.events()
        assert event.machine_reason == "scanner:barracuda"

    def test_a_click_one_second_after_sending_is_flagged(
        self, live: Live, mailroom: Mailroom, clock: FixedClock
    ) -> None:
        message_id = mailroom.message(mailroom.lead("lena@alpenblick.de"), sent_at=NOW - timedelta(seconds=1))
        live.client.get(live.tracker.click_url(message_id, TARGET), headers={"user-agent": BROWSER})
        (event,) = mailroom.events()
        assert event.machine_reason == "scanner:too_soon"

    def test_an_apple_proxy_open_is_flagged(self, live: Live, mailroom: Mailroom) -> None:
        message_id = mailroom.message(mailroom.lead("lena@alpenblick.de"))
        live.client.get(live.tracker.open_pixel_url(message_id), headers={"user-agent": "Mozilla/5.0"})
        (event,) = mailroom.events()
        assert event.machine_reason == "privacy_proxy:apple"
        metrics = live.metrics()
        assert 'nurture_email_opens_total{origin="machine"} 1.0' in metrics

    def test_every_link_clicked_within_a_second_is_a_sweep(
        self, live: Live, mailroom: Mailroom, clock: FixedClock
    ) -> None:
        message_id = mailroom.message(mailroom.lead("lena@alpenblick.de"))
        headers = {"user-agent": BROWSER}
        live.client.get(live.tracker.click_url(message_id, "https://a.example/one"), headers=headers)
        clock.advance(timedelta(milliseconds=300))
        live.client.get(live.tracker.click_url(message_id, "https://a.example/two"), headers=headers)
        clock.advance(timedelta(minutes=5))
        live.client.get(live.tracker.click_url(message_id, "https://a.example/one"), headers=headers)
        assert [e.machine_reason for e in mailroom.events()] == ["scanner:burst", "scanner:burst", None]


@pytest.mark.parametrize("route", ["/o/x.gif", "/c/x", "/u/x", "/healthz"])
def test_every_answer_carries_the_security_headers(live: Live, route: str) -> None:
    headers = live.client.get(route).headers
    assert "default-src 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


def test_when_the_database_fails_the_reader_still_gets_the_gif_and_the_target(
    live: Live, mailroom: Mailroom
) -> None:
    from nurture.store.engine import create_store_engine

    message_id = mailroom.message(mailroom.lead("lena@alpenblick.de"))
    working = live.context.engine
    live.context.engine = create_store_engine("sqlite:////nonexistent/folder/nurture.db")
    try:
        assert live.client.get(live.tracker.click_url(message_id, TARGET)).headers["location"] == TARGET
        assert live.client.get(live.tracker.open_pixel_url(message_id)).content.startswith(b"GIF89a")
    finally:
        live.context.engine.dispose()
        live.context.engine = working
    assert mailroom.event_count() == 0
    assert 'nurture_recording_errors_total{route="click"} 1.0' in live.metrics()


def test_concurrent_opens_and_clicks_are_each_recorded_once(live: Live, mailroom: Mailroom) -> None:
    import asyncio

    import httpx

    lead_ids = [mailroom.lead(f"reader{i}@firma.de") for i in range(8)]
    urls = []
    for lead_id in lead_ids:
        message_id = mailroom.message(lead_id)
        urls += [live.tracker.open_pixel_url(message_id)] * 4
        urls += [live.tracker.click_url(message_id, TARGET)] * 2

    async def load() -> list[int]:
        async with httpx.AsyncClient(headers={"user-agent": BROWSER}, timeout=10) as client:
            responses = await asyncio.gather(*(client.get(url) for url in urls))
        return [r.status_code for r in responses]

    assert sorted(set(asyncio.run(load()))) == [200, 302]
    stored = mailroom.events()
    assert len(stored) == len(urls) == 48
    assert sorted({e.lead_id for e in stored}) == sorted(lead_ids)
    assert all(e.machine_reason is None for e in stored)  # the same link clicked twice is no sweep
