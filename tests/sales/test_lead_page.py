"""A rep's lead page over a real socket: shown by GET, every step by POST, refused once not theirs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from babel import Locale
from sqlalchemy.engine import Engine

from nurture.clock import FixedClock
from nurture.http import HttpContext, create_app
from nurture.i18n import Reader
from nurture.sales import reassign
from nurture.workspace import Workspace
from tests.engagement.conftest import serving
from tests.sales.desk import LEADS, MONDAY, SLA, Desk, write_workspace

LENA = "lena@alpenblick.de"
LEAD_LINK = re.compile(r"https://nurture\.example(/sales/lead/[A-Za-z0-9_-]+)")


@pytest.fixture
def desk(workspace: Path, store: Engine) -> Desk:
    write_workspace(workspace, sla=SLA + "reject_reasons: [No budget, Wrong person]\n")
    with (workspace / "nurture.toml").open("a", encoding="utf-8") as toml:
        toml.write(
            'timezone = "Europe/Berlin"\nbase_url = "https://nurture.example"\n'
            'from_address = "Taktwerk <hallo@taktwerk.example>"\n'
        )
    desk = Desk(workspace, store)
    desk.import_leads(LEADS + "eve@firma.de,<script>alert(1)</script>,,Evil & Co,Head of IT,100,DE,\n")
    return desk


@pytest.fixture
def client(desk: Desk, store: Engine) -> Iterator[httpx.Client]:
    clock = FixedClock(MONDAY + timedelta(hours=1))
    context = HttpContext.from_workspace(Workspace(desk.root), engine=store, clock=clock)
    with serving(create_app(context)) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield client


def lead_link(desk: Desk, email: str, index: int = -1) -> str:
    notices = desk.sales_messages(email)
    (found,) = set(LEAD_LINK.findall(notices[index].html))
    assert found in notices[index].text
    return found


def test_the_page_shows_the_lead_and_takes_every_step_by_post(desk: Desk, client: httpx.Client) -> None:
    desk.make_mql(LENA, MONDAY)
    link = lead_link(desk, LENA)
    page = client.get(link)
    assert page.status_code == 200
    assert "Lena Wolf" in page.text and 'id="why"' in page.text and "Demo requested" in page.text
    # Routed Monday 09:30 in Berlin, 4 working hours: due 13:30, told in the rep's zone.
    assert '<strong id="deadline">Mon, Mar 2, 2026 1:30\u202fPM (Europe/Berlin)</strong>' in page.text
    german = client.get(link, headers={"accept-language": "de"}).text
    assert "Mo., 2. März 2026 13:30 (Europe/Berlin)" in german and "Warum dieser Score" in german
    assert "No budget" in page.text and 'value="accept"' in page.text and 'value="convert"' not in page.text
    assert "script-src" not in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert desk.stage(LENA) == "mql"  # looking changes nothing

    accepted = client.post(link, data={"do": "accept"})
    assert accepted.status_code == 200 and "the lead is yours now" in accepted.text
    assert desk.stage(LENA) == "sal" and 'value="convert"' in accepted.text

    bad = client.post(link, data={"do": "convert", "stage": "customer", "amount": "lots"})
    assert bad.status_code == 400 and desk.stage(LENA) == "sal"
    client.post(link, data={"do": "convert", "stage": "sql"})
    assert desk.stage(LENA) == "sql"
    won = client.post(
        link, data={"do": "convert", "stage": "customer", "amount": "12000.50", "currency": "CHF"}
    )
    assert won.status_code == 200 and desk.stage(LENA) == "customer"
    assert "CHF12,000.50" in won.text and 'value="convert"' not in won.text
    (*_, deal) = desk.stage_changes(LENA)
    (handoff,) = desk.handoffs(LENA)
    assert (deal.to_stage, deal.actor) == ("customer", handoff.rep_id)


def test_a_rejection_takes_a_listed_reason_and_a_note_then_the_link_is_done(
    desk: Desk, client: httpx.Client
) -> None:
    desk.make_mql(LENA, MONDAY)
    link = lead_link(desk, LENA)
    missing = client.post(
        link, data={"do": "reject", "reason": "", "note": " "}, headers={"accept-language": "de"}
    )
    assert missing.status_code == 400 and "Bitte geben Sie einen Grund an." in missing.text
    done = client.post(link, data={"do": "reject", "reason": "No budget", "note": "call in <Q3>"})
    assert done.status_code == 200 and desk.stage(LENA) == "recycled"
    (handoff,) = desk.handoffs(LENA)
    assert handoff.reason == "No budget: call in <Q3>"
    assert client.get(link).status_code == 409


def test_the_link_is_refused_after_reassignment_and_for_other_sites(desk: Desk, client: httpx.Client) -> None:
    desk.make_mql(LENA, MONDAY)
    link = lead_link(desk, LENA)
    cross = client.post(link, data={"do": "accept"}, headers={"origin": "https://evil.example"})
    assert cross.status_code == 403 and desk.stage(LENA) == "mql"
    scanned = client.post(link, data={"do": "accept"}, headers={"sec-fetch-site": "cross-site"})
    assert scanned.status_code == 403
    (handoff,) = desk.handoffs(LENA)
    other = "ben" if handoff.rep_id == "anna" else "anna"
    with desk.store.begin() as conn:
        reassign(
            conn, desk.lifecycle, desk.lead_id(LENA, conn), to=other, actor="boss",
            now=MONDAY + timedelta(minutes=5), sales=desk.lifecycle.sales,
        )  # fmt: skip
    for response in (client.get(link), client.post(link, data={"do": "accept"})):
        assert response.status_code == 409 and "reassigned" in response.text
    assert desk.stage(LENA) == "mql"
    new_link = lead_link(desk, LENA)
    assert new_link != link and client.get(new_link).status_code == 200
    tampered = new_link[:-3] + ("AAA" if not new_link.endswith("AAA") else "BBB")
    assert client.get(tampered).status_code == 404


def test_the_page_s_own_form_is_taken_as_the_browser_sends_it(desk: Desk, client: httpx.Client) -> None:
    """Under the page's ``no-referrer`` policy a browser posts its own form with ``Origin: null``;
    Sec-Fetch-Site, which no page can set, tells it apart from a foreign one."""
    desk.make_mql(LENA, MONDAY)
    link = lead_link(desk, LENA)
    foreign = [
        {"origin": "null"},  # a browser without Sec-Fetch-Site: nothing says it is the page's own
        {"origin": "null", "sec-fetch-site": "cross-site"},
        {"origin": "https://sales.nurture.example", "sec-fetch-site": "same-site"},
        {"origin": str(client.base_url).rstrip("/"), "sec-fetch-site": "cross-site"},
    ]
    for headers in foreign:
        assert client.post(link, data={"do": "accept"}, headers=headers).status_code == 403, headers
    assert desk.handoffs(LENA)[-1].status == "pending"
    browser = {"origin": "null", "sec-fetch-site": "same-origin"}
    own = client.post(link, data={"do": "accept"}, headers=browser)
    assert own.status_code == 200 and 'id="notice"' in own.text
    assert desk.handoffs(LENA)[-1].status == "accepted"


def test_lead_data_on_the_page_is_escaped(desk: Desk, client: httpx.Client) -> None:
    desk.make_mql("eve@firma.de", MONDAY)
    page = client.get(lead_link(desk, "eve@firma.de")).text
    assert (
        "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "Evil &amp; Co" in page
    )


def test_the_manager_works_an_escalated_lead_from_their_own_link(desk: Desk, client: httpx.Client) -> None:
    desk.make_mql("tom@example.us", MONDAY)  # nobody covers the US: the manager's at once
    link = lead_link(desk, "tom@example.us")
    assert client.get(link).status_code == 200
    assert client.post(link, data={"do": "accept"}).status_code == 200
    assert client.post(link, data={"do": "convert", "stage": "sql"}).status_code == 200
    won = client.post(link, data={"do": "convert", "stage": "opportunity", "amount": "5000"})
    assert won.status_code == 200 and '<strong id="stage">opportunity</strong>' in won.text
    assert desk.lead("tom@example.us").owner_rep_id == "manager:dach-sales"
    assert [c.actor for c in desk.stage_changes("tom@example.us")][-1] == "manager:dach-sales"


def test_stages_and_answers_are_shown_in_the_readers_language(
    desk: Desk, client: httpx.Client, store: Engine
) -> None:
    desk.make_mql(LENA, MONDAY)
    link = lead_link(desk, LENA)
    client.post(link, data={"do": "accept"})
    client.post(link, data={"do": "convert", "stage": "customer", "amount": "100"})
    german = client.get(link, headers={"accept-language": "de"}).text
    assert '<strong id="stage">Kunde</strong>' in german
    assert "MQL (marketingqualifiziert) → SAL (vom Vertrieb angenommen)" in german
    assert "<td>weiterentwickelt</td>" in german  # the handoff's answer, not its code
    context = HttpContext.from_workspace(Workspace(desk.root), engine=store, clock=FixedClock(MONDAY))
    reader = Reader(Locale.parse("de"), ZoneInfo("Europe/Berlin"))
    for status, shown in (("converted", "weiterentwickelt"), ("disqualified", "disqualifiziert")):
        page = context.pages.render("sales_closed", reader, 409, status=status)
        assert f"({shown})" in bytes(page.body).decode()
