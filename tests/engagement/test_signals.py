"""Honest signals: which opens and clicks machines made."""

from __future__ import annotations

from datetime import timedelta

import pytest

from nurture.engagement.signals import click_machine_reason, open_machine_reason
from tests.engagement.conftest import BROWSER, NOW

APPLE_MAIL = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"


@pytest.mark.parametrize(
    ("agent", "ip", "reason"),
    [
        (APPLE_MAIL, "203.0.113.9", None),
        (BROWSER, "198.51.100.4", None),
        ("Mozilla/5.0", "203.0.113.9", "privacy_proxy:apple"),
        (APPLE_MAIL, "17.58.101.3", "privacy_proxy:apple"),
        ("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)", None,
         "privacy_proxy:google"),
        ("YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html", None,
         "privacy_proxy:yahoo"),
        ("", "198.51.100.4", "no_user_agent"),
        ("Barracuda Sentinel (EE)", None, "scanner:barracuda"),
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/126.0 Safari/537.36", None,
         "headless"),
        ("Mozilla/5.0 ... Chrome", "not-an-ip", None),
    ],
)  # fmt: skip
def test_open_reasons(agent: str, ip: str | None, reason: str | None) -> None:
    assert open_machine_reason(agent, ip) == reason


LATER = NOW + timedelta(minutes=10)


@pytest.mark.parametrize(
    ("agent", "at", "burst", "reason"),
    [
        (BROWSER, LATER, False, None),
        (BROWSER, NOW + timedelta(seconds=1), False, "scanner:too_soon"),
        (BROWSER, NOW + timedelta(seconds=2), False, None),
        (BROWSER, LATER, True, "scanner:burst"),
        ("Mimecast Security Scanner", LATER, False, "scanner:mimecast"),
        ("Proofpoint URL Defense", LATER, False, "scanner:proofpoint"),
        ("Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook)", LATER, False, "scanner:microsoft"),
        ("python-requests/2.32.3", LATER, False, "http_client:python"),
        ("curl/8.5.0", LATER, False, "http_client:curl"),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", LATER, False, "bot"),
        ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", LATER, False, "bot"),
        ("Mozilla/5.0 (Linux; Android 12; CUBOT_X30) AppleWebKit/537.36 Chrome/120", LATER, False, None),
        ("", LATER, False, "no_user_agent"),
        (None, NOW + timedelta(seconds=1), False, "scanner:too_soon"),
        (None, LATER, False, None),
    ],
)  # fmt: skip
def test_click_reasons(agent: str | None, at: object, burst: bool, reason: str | None) -> None:
    assert click_machine_reason(agent, NOW, at, other_link_within_burst=burst) == reason  # type: ignore[arg-type]
