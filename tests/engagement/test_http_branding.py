"""The workspace's name, logo and colours on every page, under a CSP that allows exactly the
branded stylesheet and the logo's origin; checked over a socket and in headless Chromium."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine

from nurture.clock import FixedClock
from nurture.delivery.tracking import LinkTracker
from nurture.errors import SettingsError
from nurture.http import HttpContext, create_app
from nurture.settings import load_settings
from nurture.workspace import Workspace
from tests.browser import CHROMIUM, chromium, png_colours, screenshot
from tests.engagement.conftest import INGEST_KEY, NOW, Mailroom, serving
from tests.engagement.test_http_sales import links, qualify
from tests.sales.desk import Desk, write_workspace

LEADS = "email,first_name,last_name,company,job_title,company_size,country,locale\n" + (
    "lena@alpenblick.de,Lena,Wolf,Alpenblick GmbH,Head of Operations,120,DE,de-DE\n"
)
BRANDING = (
    'brand_name = "Taktwerk <Cloud> & Co"\n'
    'brand_logo_url = "https://cdn.taktwerk.example:8443/logo.png?v=2&size=s"\n'
    'brand_primary_color = "#0F766E"\nbrand_text_color = "#111827"\n'
)


@pytest.fixture
def desk(workspace: Path, store: Engine) -> Desk:
    write_workspace(workspace)
    with (workspace / "nurture.toml").open("a", encoding="utf-8") as toml:
        toml.write(
            'timezone = "Europe/Berlin"\nbase_url = "https://nurture.example"\nlocale = "de"\n'
            f'from_address = "Taktwerk <hallo@taktwerk.example>"\ningest_api_key = "{INGEST_KEY.decode()}"\n'
            + BRANDING
        )
    desk = Desk(workspace, store)
    desk.import_leads(LEADS)
    return desk


@pytest.fixture
def server(desk: Desk, store: Engine) -> Iterator[tuple[str, HttpContext]]:
    context = HttpContext.from_workspace(Workspace(desk.root), engine=store, clock=FixedClock(NOW))
    with serving(create_app(context)) as url:
        yield url, context


def unsubscribe_link(desk: Desk, server: tuple[str, HttpContext], store: Engine) -> str:
    lead_id = desk.lead_id("lena@alpenblick.de")
    return LinkTracker(server[1].signer, server[0]).unsubscribe_url(Mailroom(store).message(lead_id), lead_id)


def policy(response: httpx.Response) -> dict[str, str]:
    parts = (p.strip().split(" ", 1) for p in response.headers["content-security-policy"].split(";"))
    return {p[0]: p[1] if len(p) > 1 else "" for p in parts}


def test_every_page_carries_the_branding_escaped_under_a_policy_for_exactly_it(
    desk: Desk, server: tuple[str, HttpContext], store: Engine
) -> None:
    with httpx.Client(base_url=server[0], timeout=10) as client:
        qualify(client, "lena@alpenblick.de")
        pages = [
            client.get(unsubscribe_link(desk, server, store)),
            client.get(links(desk, "lena@alpenblick.de")["accept"]),
            client.get("/u/not-a-token"),
            client.get("/c/not-a-token"),
        ]
        plain = client.get("/healthz")
    for page in pages:
        assert "<span>Taktwerk &lt;Cloud&gt; &amp; Co</span>" in page.text
        assert (
            '<img src="https://cdn.taktwerk.example:8443/logo.png?v=2&amp;size=s" alt="Taktwerk &lt;Cloud'
            in (page.text)
        )
        assert "· Taktwerk &lt;Cloud&gt; &amp; Co</title>" in page.text
        (style,) = re.findall(r"<style>(.*?)</style>", page.text, re.DOTALL)
        assert "background:#0f766e" in style and "color:#111827" in style
        digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
        csp = policy(page)
        assert csp["style-src"] == f"'sha256-{digest}'"
        assert csp["img-src"] == "'self' https://cdn.taktwerk.example:8443"  # that origin, nothing wider
        assert csp["default-src"] == "'none'" and "script-src" not in csp
    assert "cdn.taktwerk.example" not in plain.headers["content-security-policy"]


def test_the_sales_email_carries_the_branding(desk: Desk) -> None:
    desk.make_mql("lena@alpenblick.de", NOW)
    [notice] = desk.sales_messages("lena@alpenblick.de")
    assert "border-top:4px solid #0f766e" in notice.html and "color:#111827" in notice.html
    assert 'src="https://cdn.taktwerk.example:8443/logo.png?v=2&amp;size=s"' in notice.html
    assert "Taktwerk &lt;Cloud&gt; &amp; Co</span>" in notice.html


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ('brand_logo_url = "http://cdn.example.com/logo.png"', "is not an https URL"),
        ('brand_logo_url = "https://cdn.example.com/logo.png\\" onerror=\\"x"', "is not a plain URL"),
        ('brand_logo_url = "https://user:pw@cdn.example.com/logo.png"', "carries credentials"),
        ('brand_primary_color = "red;} body{display:none"', "is not a hex colour"),
        ('brand_text_color = "#12345"', "is not a hex colour"),
    ],
)
def test_branding_settings_are_checked(tmp_path: Path, line: str, named: str) -> None:
    (tmp_path / "nurture.toml").write_text(line + "\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=named) as raised:
        load_settings(tmp_path)
    assert line.split(" ")[0] in str(raised.value)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_a_german_branded_page_in_chromium_is_painted_in_the_brand_colour_under_the_policy(
    desk: Desk, server: tuple[str, HttpContext], store: Engine, tmp_path: Path
) -> None:
    url = unsubscribe_link(desk, server, store)
    dom = chromium(url, tmp_path / "profile", "--lang=de-DE")
    assert '<html lang="de-DE">' in dom and "Von unseren E-Mails abmelden?" in dom
    assert "Taktwerk &lt;Cloud&gt; &amp; Co" in dom and "<form" in dom
    # The button and the header's rule are the primary colour only if the policy let the
    # stylesheet apply: a blocked stylesheet paints none of it.
    painted = png_colours(screenshot(url, tmp_path / "shot", "--lang=de-DE"))
    assert painted[(0x0F, 0x76, 0x6E)] > 1000
