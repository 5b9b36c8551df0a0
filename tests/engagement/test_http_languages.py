"""The pages nurture serves speak the reader's language: the lead's or rep's locale, else the
browser's, else the workspace's; a workspace's own version of a page wins."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine

from nurture.clock import FixedClock
from nurture.delivery.tracking import LinkTracker
from nurture.http import HttpContext, create_app
from nurture.workspace import Workspace
from tests.engagement.conftest import INGEST_KEY, NOW, Mailroom, serving
from tests.engagement.test_http_sales import links, qualify
from tests.sales.desk import Desk, team, write_workspace

LEADS = (
    "email,first_name,last_name,company,job_title,company_size,country,locale\n"
    "lena@alpenblick.de,Lena,Wolf,Alpenblick GmbH,Head of Operations,120,DE,de-AT\n"
    "max@bergwerk.at,Max,Huber,Bergwerk AG,Engineer,30,AT,\n"
    "tom@example.us,Tom,Smith,Example Inc,Director,500,US,en-US\n"
)


@pytest.fixture
def desk(workspace: Path, store: Engine) -> Desk:
    # Anna reads English in a German program; Ben has no locale and gets the workspace's.
    reps = team(reps="anna:DE:30,ben:AT:20").replace(
        "email: anna@sales.example,", "email: anna@sales.example, locale: en,"
    )
    write_workspace(workspace, sales_team=reps)
    with (workspace / "nurture.toml").open("a", encoding="utf-8") as toml:
        toml.write(
            'timezone = "Europe/Berlin"\nbase_url = "https://nurture.example"\nlocale = "de"\n'
            f'from_address = "Taktwerk <hallo@taktwerk.example>"\ningest_api_key = "{INGEST_KEY.decode()}"\n'
        )
    desk = Desk(workspace, store)
    desk.import_leads(LEADS)
    return desk


@pytest.fixture
def server(desk: Desk, store: Engine) -> Iterator[tuple[str, HttpContext]]:
    context = HttpContext.from_workspace(Workspace(desk.root), engine=store, clock=FixedClock(NOW))
    with serving(create_app(context)) as url:
        yield url, context


@pytest.fixture
def client(server: tuple[str, HttpContext]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server[0], timeout=10) as client:
        yield client


def unsubscribe_url(desk: Desk, server: tuple[str, HttpContext], store: Engine, email: str) -> str:
    lead_id = desk.lead_id(email)
    return LinkTracker(server[1].signer, server[0]).unsubscribe_url(Mailroom(store).message(lead_id), lead_id)


def test_a_german_lead_gets_the_german_unsubscribe_page_and_confirmation(
    desk: Desk, server: tuple[str, HttpContext], store: Engine, client: httpx.Client
) -> None:
    url = unsubscribe_url(desk, server, store, "lena@alpenblick.de")
    # Her browser prefers English, but she is known to read German (de-AT): her locale wins.
    asked = client.get(url, headers={"accept-language": "en-US,en;q=0.9"})
    assert asked.status_code == 200
    assert '<html lang="de-AT">' in asked.text and asked.headers["content-language"] == "de-AT"
    assert "Von unseren E-Mails abmelden?" in asked.text and "Ja, abmelden" in asked.text
    assert "le***@alpenblick.de" in asked.text
    done = client.post(url, data={"confirm": "yes"})
    assert "Sie sind abgemeldet." in done.text and "Wir senden keine Marketing-E-Mails mehr" in done.text
    assert desk.lead("lena@alpenblick.de").unsubscribed_at is not None


def test_a_lead_without_a_locale_gets_the_browsers_language_else_the_workspaces(
    desk: Desk, server: tuple[str, HttpContext], store: Engine, client: httpx.Client
) -> None:
    url = unsubscribe_url(desk, server, store, "max@bergwerk.at")
    assert "Unsubscribe from our emails?" in client.get(url, headers={"accept-language": "fr, en;q=0.5"}).text
    german = client.get(url)
    assert "Von unseren E-Mails abmelden?" in german.text and german.headers["content-language"] == "de"
    english = unsubscribe_url(desk, server, store, "tom@example.us")
    assert '<html lang="en-US">' in client.get(english, headers={"accept-language": "de"}).text


def test_an_invalid_link_is_answered_in_the_browsers_language(client: httpx.Client) -> None:
    page = client.get("/u/not-a-token", headers={"accept-language": "fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7"})
    assert page.status_code == 404 and "This link is not valid." in page.text
    assert "Dieser Link ist ungültig." in client.get("/c/not-a-token").text  # nobody known: the workspace's


def test_the_reps_locale_chooses_the_language_of_the_sales_pages(desk: Desk, client: httpx.Client) -> None:
    qualify(client, "lena@alpenblick.de")  # to Anna, who reads English
    qualify(client, "max@bergwerk.at")  # to Ben: the workspace's German
    anna = client.get(links(desk, "lena@alpenblick.de")["accept"], headers={"accept-language": "de"})
    assert "Accept this lead?" in anna.text and '<html lang="en">' in anna.text
    ben = client.get(links(desk, "max@bergwerk.at")["reject"])
    assert "Diesen Lead ablehnen?" in ben.text and "Grund (Pflichtfeld):" in ben.text
    missing = client.post(links(desk, "max@bergwerk.at")["reject"], data={"reason": " "})
    assert missing.status_code == 400 and "Bitte geben Sie einen Grund an." in missing.text


def test_a_workspace_page_replaces_nurtures_own_and_a_broken_one_falls_back(
    desk: Desk, store: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    pages = desk.root / "templates" / "pages"
    pages.mkdir(parents=True)
    (pages / "unsubscribe.html").write_text(
        '{% extends "pages/_layout.html" %}{% block title %}Taktwerk{% endblock %}'
        "{% block body %}<h1>{{ _('Unsubscribe') }}: {{ email }}</h1><p>Taktwerk-Newsletter</p>"
        '<form method="post" action=""><button>OK</button></form>{% endblock %}'
    )
    (pages / "invalid.html").write_text("{{ no_such_name.deeper }}")
    context = HttpContext.from_workspace(Workspace(desk.root), engine=store, clock=FixedClock(NOW))
    with serving(create_app(context)) as url, httpx.Client(base_url=url, timeout=10) as client:
        lead_id = desk.lead_id("max@bergwerk.at")
        link = LinkTracker(context.signer, url).unsubscribe_url(Mailroom(store).message(lead_id), lead_id)
        page = client.get(link)
        assert "<h1>Abmelden: ma***@bergwerk.at</h1>" in page.text and "Taktwerk-Newsletter" in page.text
        invalid = client.get("/u/not-a-token")
    assert invalid.status_code == 404 and "Dieser Link ist ungültig." in invalid.text
    assert "templates/pages/invalid.html failed" in caplog.text
