"""Honest signals: telling the opens and clicks of people from those of machines.

A machine-made event is kept, never dropped, with its reason in ``events.machine_reason``;
``opened()``/``clicked()`` in conditions ignore it and reports show human and machine counts apart.
The heuristics, in the order they are tried:

Opens (the tracking pixel)
    * ``privacy_proxy:apple`` -- Apple Mail Privacy Protection loads every image through Apple's
      proxy as soon as the message reaches the device, whether or not anyone reads it. The proxy
      sends the bare user agent ``Mozilla/5.0`` with no further detail and fetches from Apple's
      network (17.0.0.0/8).
    * ``privacy_proxy:google`` -- Gmail fetches images through ``GoogleImageProxy``. It does so when
      the reader opens the message, but it hides who and where, caches the image (later opens are
      not seen) and is also used for prefetching, so it is counted apart rather than as a person.
    * ``privacy_proxy:yahoo`` -- Yahoo Mail's ``YahooMailProxy`` prefetches images.
    * ``scanner:<name>``, ``http_client:<name>``, ``headless``, ``bot`` -- the agents listed below.
    * ``no_user_agent`` -- every mail client and browser sends one.

Clicks (the redirect)
    * ``scanner:<name>`` -- security gateways that follow every link of an incoming message to
      check the target: Barracuda, Mimecast, Proofpoint, Microsoft Defender / Safe Links, Trend
      Micro, Symantec, Sophos, Forcepoint, FortiGuard, Zscaler, Cisco IronPort, Avanan.
    * ``http_client:<name>`` -- programs, not browsers: python-requests, urllib, httpx, aiohttp,
      curl, Wget, Go, Java, okhttp, libwww-perl, Apache HttpClient, node-fetch, axios.
    * ``headless`` -- headless browsers (HeadlessChrome, PhantomJS, Puppeteer, Playwright, Selenium).
    * ``bot`` -- crawlers and link previewers that say so (``...bot/``, ``spider``, ``crawler``,
      ``facebookexternalhit``, ``Slackbot-LinkExpanding``).
    * ``no_user_agent``.
    * ``scanner:too_soon`` -- less than :data:`TOO_SOON` (2 s) after the relay accepted the message:
      no person has read it by then, a gateway scanning on arrival has.
    * ``scanner:burst`` -- two different links of one message clicked within :data:`BURST_WINDOW`
      (1 s): a person clicks one link, reads, comes back; a scanner follows them all at once. The
      earlier clicks of the burst are flagged too (their points, if scored already, stay).

``HEAD`` requests are answered but not recorded at all: browsers never send them for a click.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime, timedelta
from functools import lru_cache

TOO_SOON = timedelta(seconds=2)
BURST_WINDOW = timedelta(seconds=1)

APPLE_PROXY_AGENT = "Mozilla/5.0"
APPLE_NETWORK = ipaddress.ip_network("17.0.0.0/8")

_PROXIES = (
    ("privacy_proxy:google", re.compile(r"GoogleImageProxy", re.IGNORECASE)),
    ("privacy_proxy:yahoo", re.compile(r"YahooMailProxy", re.IGNORECASE)),
)

# (reason, pattern) pairs, tried in order; patterns match anywhere in the user agent.
_AGENTS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (reason, re.compile(pattern, re.IGNORECASE))
    for reason, pattern in (
        ("scanner:barracuda", r"barracuda"),
        ("scanner:mimecast", r"mimecast"),
        ("scanner:proofpoint", r"proofpoint"),
        ("scanner:microsoft", r"safelinks|safe links|microsoft defender|ms-office|microsoft office"),
        ("scanner:trendmicro", r"trend ?micro"),
        ("scanner:symantec", r"symantec|messagelabs"),
        ("scanner:sophos", r"sophos"),
        ("scanner:forcepoint", r"forcepoint|websense"),
        ("scanner:fortiguard", r"fortiguard|fortinet"),
        ("scanner:zscaler", r"zscaler"),
        ("scanner:cisco", r"ironport|cisco"),
        ("scanner:avanan", r"avanan"),
        ("http_client:python", r"python-requests|python-urllib|python-httpx|aiohttp|python/"),
        ("http_client:curl", r"\bcurl/"),
        ("http_client:wget", r"\bwget/"),
        ("http_client:go", r"go-http-client"),
        ("http_client:java", r"^java/|apache-httpclient|okhttp"),
        ("http_client:perl", r"libwww-perl"),
        ("http_client:node", r"node-fetch|axios/|undici"),
        ("headless", r"headlesschrome|phantomjs|puppeteer|playwright|selenium|headless"),
        ("bot", r"bot(?:[/\-;\s)]|$)|spider|crawler|facebookexternalhit|linkpreview"),
    )
)


@lru_cache(maxsize=4096)
def agent_reason(user_agent: str | None) -> str | None:
    """The machine behind a user agent, when it names one (cached: scanners repeat themselves)."""
    if not user_agent or not user_agent.strip():
        return "no_user_agent"
    for reason, pattern in _AGENTS:
        if pattern.search(user_agent):
            return reason
    return None


def _apple_address(ip: str | None) -> bool:
    if not ip:
        return False
    try:
        return ipaddress.ip_address(ip) in APPLE_NETWORK
    except ValueError:
        return False


def open_machine_reason(user_agent: str | None, ip: str | None) -> str | None:
    """Why an open of the pixel was made by a machine, or None for a person."""
    agent = (user_agent or "").strip()
    if agent == APPLE_PROXY_AGENT or _apple_address(ip):
        return "privacy_proxy:apple"
    for reason, pattern in _PROXIES:
        if pattern.search(agent):
            return reason
    return agent_reason(agent)


def click_machine_reason(
    user_agent: str | None,
    sent_at: datetime | None,
    at: datetime,
    *,
    other_link_within_burst: bool = False,
) -> str | None:
    """Why a click was made by a machine, or None for a person.

    ``user_agent`` None means it is not known (an event reported by another system); an empty one
    was sent empty. ``other_link_within_burst``: a different link of the same message was clicked
    within :data:`BURST_WINDOW` before this one.
    """
    if user_agent is not None:
        reason = agent_reason(user_agent.strip())
        if reason is not None:
            return reason
    if sent_at is not None and at - sent_at < TOO_SOON:
        return "scanner:too_soon"
    if other_link_within_burst:
        return "scanner:burst"
    return None
