"""From events to a rep's one-click answer, over a real socket, with real scoring and routing.

Events arrive through the API, scoring makes the lead an MQL and routes it, the rep's notification
carries signed accept/reject links, and the links' pages ask before they act.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine

from nurture.clock import FixedClock
from nurture.http import HttpContext, create_app
from nurture.sales import reassign
from nurture.workspace import Workspace
from tests.engagement.conftest import INGEST_KEY, NOW, serving
from tests.sales.desk import LEADS, Desk, write_workspace

BEARER = {"authorization": f"Bearer {INGEST_KEY.decode()}"}
LINK = re.compile(r"https://nurture\.example(/sales/(?:accept|reject)/[A-Za-z0-9_-]+)")


@pytest.fixture
def desk(workspace: Path, store: Engine) -> Desk:
    write_workspace(workspace)
    with (workspace / "nurture.toml").open("a", encoding="utf-8") as toml:
        toml.write(
            'timezone = "Europe/Berlin"\nbase_url = "https://nurture.example"\n'
            f'from_address = "Taktwerk <hallo@taktwerk.example>"\ningest_api_key = "{INGEST_KEY.decode()}"\n'
        )
    desk = Desk(workspace, store)
    desk.import_leads(LEADS + "eve@firma.de,<script>alert(1)</script>,,Evil & Co,Head of IT,100,DE,\n")
    return desk


@pytest.fixture
def client(desk: Desk, store: Engine) -> Iterator[httpx.Client]:
    context = HttpContext.from_workspace(Workspace(desk.root), engine=store, clock=FixedClock(NOW))
    with serving(create_app(context)) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield client


def qualify(client: httpx.Client, email: str) -> None:
    """Enough engagement through the API to pass the MQL rule (score >= 100)."""
    items = [
        {"type": "demo_requested", "email": email},
        {"type": "webinar_attended", "email": email},
        {"type": "page_view", "email": email, "url": "https://taktwerk.example/pricing"},
        {"type": "download", "email": email, "asset_type": "whitepaper"},
    ]
    keyed = {**BEARER, "idempotency-key": f"qualify-{email}"}
    assert client.post("/api/events", json=items, headers=keyed).json()["stored"] == 4


def links(desk: Desk, email: str) -> dict[str, str]:
    (notification,) = desk.sales_messages(email)
    found = {path.split("/")[2]: path for path in LINK.findall(notification.html)}
    assert set(found) == {"accept", "reject"}
    return found


def test_the_rep_accepts_from_the_link_in_the_notification(desk: Desk, client: httpx.Client) -> None:
    qualify(client, "lena@alpenblick.de")
    assert desk.stage("lena@alpenblick.de") == "mql"
    accept = links(desk, "lena@alpenblick.de")["accept"]

    page = client.get(accept)
    assert page.status_code == 200 and "Lena Wolf" in page.text and '<form method="post"' in page.text
    assert desk.stage("lena@alpenblick.de") == "mql"  # a GET (or a scanner) changes nothing

    done = client.post(accept)
    assert done.status_code == 200 and "is yours now" in done.text
    assert desk.stage("lena@alpenblick.de") == "sal"
    (handoff,) = desk.handoffs("lena@alpenblick.de")
    assert (handoff.status, handoff.actor) == ("accepted", handoff.rep_id)

    again = client.post(accept)
    assert again.status_code == 409 and "accepted" in again.text
    assert client.get(accept).status_code == 409


def test_a_rejection_needs_a_reason_and_recycles_the_lead(desk: Desk, client: httpx.Client) -> None:
    qualify(client, "max@bergwerk.at")
    reject = links(desk, "max@bergwerk.at")["reject"]
    page = client.get(reject, headers={"accept-language": "de"})
    assert "Grund (Pflichtfeld)" in page.text and "<textarea" in page.text

    missing = client.post(reject, data={"reason": "   "})
    assert missing.status_code == 400 and "Please give a reason." in missing.text
    assert desk.stage("max@bergwerk.at") == "mql"

    done = client.post(reject, data={"reason": "Kein Budget <vor 2027>"})
    assert done.status_code == 200
    assert desk.stage("max@bergwerk.at") == "recycled"
    (handoff,) = desk.handoffs("max@bergwerk.at")
    assert (handoff.status, handoff.reason) == ("rejected", "Kein Budget <vor 2027>")


def test_forged_or_swapped_sales_tokens_are_refused(desk: Desk, client: httpx.Client) -> None:
    qualify(client, "lena@alpenblick.de")
    found = links(desk, "lena@alpenblick.de")
    accept_token, reject_token = found["accept"].rsplit("/", 1)[1], found["reject"].rsplit("/", 1)[1]
    assert client.post(f"/sales/accept/{reject_token}").status_code == 404  # swapped purpose
    changed = accept_token[:8] + ("A" if accept_token[8] != "A" else "B") + accept_token[9:]
    assert client.post(f"/sales/accept/{changed}").status_code == 404
    assert client.get(f"/sales/reject/{accept_token}").status_code == 404
    assert desk.stage("lena@alpenblick.de") == "mql"


def test_lead_data_on_the_sales_page_is_escaped(desk: Desk, client: httpx.Client) -> None:
    qualify(client, "eve@firma.de")
    page = client.get(links(desk, "eve@firma.de")["accept"]).text
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "Evil &amp; Co" in page


def test_the_old_reps_links_are_refused_after_a_manual_reassignment(desk: Desk, client: httpx.Client) -> None:
    qualify(client, "lena@alpenblick.de")
    old = links(desk, "lena@alpenblick.de")
    (first,) = desk.handoffs("lena@alpenblick.de")
    other = "ben" if first.rep_id == "anna" else "anna"
    desk.act(reassign, "lena@alpenblick.de", NOW, to=other, actor="petra", sales=desk.lifecycle.sales)

    for path in old.values():
        page = client.get(path)
        assert page.status_code == 409 and "reassigned" in page.text
    assert client.post(old["accept"]).status_code == 409
    assert client.post(old["reject"], data={"reason": "not mine"}).status_code == 409
    assert desk.stage("lena@alpenblick.de") == "mql"

    notice = desk.sales_messages("lena@alpenblick.de")[-1]
    assert notice.to_address == f"{other}@sales.example"
    new_accept = next(p for p in LINK.findall(notice.html) if "/accept/" in p)
    assert client.post(new_accept).status_code == 200
    assert (desk.stage("lena@alpenblick.de"), desk.lead("lena@alpenblick.de").owner_rep_id) == ("sal", other)
