"""The sales desk through the HTTP app only, checked in headless Chromium: events make an MQL, the
rep's email (from the Maildir) links to the lead page, the rep accepts and wins the deal with an
amount; a CH lead goes to the Swiss team; a link is refused once the lead was reassigned; and on a
moved clock the rep is reminded, the lead escalates to the manager, and the digest comes."""

from __future__ import annotations

import mailbox
import re
from collections.abc import Iterator
from datetime import timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from nurture.clock import FixedClock
from nurture.http import HttpContext, create_app
from nurture.workspace import Workspace
from tests.browser import CHROMIUM, chromium
from tests.engagement.conftest import INGEST_KEY, serving
from tests.sales.desk import LEADS, MONDAY, SLA, Desk, team, write_workspace
from tests.sales.test_teams import CH_TEAM, ROUTES

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)"
)

SALES_KEY = "sales-key-for-the-story-0123456789"
LEAD_LINK = re.compile(r"https://nurture\.example(/sales/lead/[A-Za-z0-9_-]+)")


@pytest.fixture
def desk(workspace: Path, store: Engine) -> Desk:
    sla = SLA.replace("route_to: dach-sales\n", ROUTES) + 'remind_before: 1h\ndigest_at: "08:00"\n'
    sla = sla.replace("on_breach: reassign", "on_breach: escalate")
    write_workspace(workspace, sla=sla, sales_team=team(reps="anna:DE:30,ben:AT|DE:20") + "---\n" + CH_TEAM)
    with (workspace / "nurture.toml").open("a", encoding="utf-8") as toml:
        toml.write(
            'timezone = "Europe/Berlin"\nbase_url = "https://nurture.example"\n'
            f'from_address = "Taktwerk <hallo@taktwerk.example>"\ningest_api_key = "{INGEST_KEY.decode()}"\n'
            f'sales_api_key = "{SALES_KEY}"\ntransport = "maildir:outbox"\n'
        )
    desk = Desk(workspace, store)
    desk.import_leads(LEADS)
    return desk


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(MONDAY)


@pytest.fixture
def server(desk: Desk, store: Engine, clock: FixedClock) -> Iterator[tuple[str, httpx.Client]]:
    context = HttpContext.from_workspace(Workspace(desk.root), engine=store, clock=clock)
    with serving(create_app(context)) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield url, client


def qualify(client: httpx.Client, email: str) -> None:
    items = [
        {"type": "webinar_attended", "email": email},
        {"type": "demo_requested", "email": email},
        {"type": "webinar_attended", "email": email},
        {"type": "page_view", "email": email, "url": "https://taktwerk.example/pricing"},
        {"type": "download", "email": email, "asset_type": "whitepaper"},
    ]
    headers = {"authorization": f"Bearer {INGEST_KEY.decode()}"}
    assert client.post("/api/events", json=items, headers=headers).json()["stored"] == 5


def mails(workspace: Path, to: str, *, digests: bool = False) -> list[Message]:
    """The emails to ``to`` in the Maildir, in the order written; the daily digests apart."""
    folder = workspace / "outbox" / "new"
    paths = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime_ns) if folder.exists() else []
    box = mailbox.Maildir(workspace / "outbox", create=False)
    found = []
    for path in paths:
        message = box.get_message(path.name.split(":")[0])
        digest = str(message["Subject"]).startswith("Your open leads today")
        if to in (message["To"] or "") and digest == digests:
            found.append(message)
    return found


def text_of(message: Message) -> str:
    parts = [p for p in message.walk() if p.get_content_type() == "text/plain"]
    payload: Any = parts[0].get_payload(decode=True)
    return str(payload.decode(parts[0].get_content_charset() or "utf-8"))


def tick(cli: Any, at: object) -> None:
    result = cli("tick", "--now", at.isoformat())  # type: ignore[attr-defined]
    assert result.exit_code == 0, result.output


def test_the_sales_desk_story(desk: Desk, server: tuple[str, httpx.Client], cli: Any, tmp_path: Path) -> None:
    url, client = server
    qualify(client, "lena@alpenblick.de")  # DE: the default team, Monday 09:30 in Berlin
    tick(cli, MONDAY)
    (notice,) = mails(desk.root, "anna@sales.example")
    link = LEAD_LINK.search(text_of(notice)).group(1)  # type: ignore[union-attr]

    page = chromium(url + link, tmp_path / "profile")
    assert "Lena Wolf" in page and 'id="why"' in page and "Demo requested" in page
    assert "Mon, Mar 2, 2026 1:30" in page  # 4 working hours, in Anna's zone
    assert client.post(link, data={"do": "accept"}).status_code == 200
    won = client.post(link, data={"do": "convert", "stage": "customer", "amount": "12000", "currency": "EUR"})
    assert won.status_code == 200
    page = chromium(url + link, tmp_path / "profile")
    assert '<strong id="stage">customer</strong>' in page and "€12,000.00" in page
    assert desk.stage("lena@alpenblick.de") == "customer"

    # Two teams by territory: the Swiss lead is the Swiss team's.
    qualify(client, "sara@gmail.com")
    (swiss,) = desk.handoffs("sara@gmail.com")
    assert (swiss.team_key, swiss.rep_id) == ("ch-sales", "chris")

    # A link is refused once the lead was reassigned.
    qualify(client, "max@bergwerk.at")
    tick(cli, MONDAY + timedelta(minutes=1))
    assert [(h.rep_id, h.status) for h in desk.handoffs("max@bergwerk.at")] == [("ben", "pending")]
    (to_ben,) = mails(desk.root, "ben@sales.example")
    old = LEAD_LINK.search(text_of(to_ben)).group(1)  # type: ignore[union-attr]
    moved = client.post(
        "/api/sales/reassign",
        json={"email": "max@bergwerk.at", "to": "anna", "actor": "petra"},
        headers={"authorization": f"Bearer {SALES_KEY}"},
    )
    assert moved.status_code == 200
    refused = client.get(old)
    assert refused.status_code == 409
    assert "This lead is no longer open." in chromium(url + old, tmp_path / "profile")

    # On a moved clock: Chris (Zurich, 08-17) is reminded an hour before 13:30, then it escalates
    # to Urs, who owns it with his own deadline; Tuesday 08:00 brings the digests.
    tick(cli, MONDAY + timedelta(hours=3))  # 12:30 in Zurich
    reminder = mails(desk.root, "chris@sales.example")[-1]
    assert str(reminder["Subject"]).startswith("Reminder: accept or reject Sara Keller")
    tick(cli, MONDAY + timedelta(hours=4))  # 13:30: the deadline
    assert desk.lead("sara@gmail.com").owner_rep_id == "manager:ch-sales"
    (escalation,) = mails(desk.root, "urs.meier@example.com")
    assert "Escalated lead" in str(escalation["Subject"])
    monday = len(mails(desk.root, "", digests=True))
    tick(cli, MONDAY + timedelta(days=1, minutes=-30))  # Tuesday 08:00 in Berlin and Zurich
    digests = mails(desk.root, "", digests=True)[monday:]
    # Both leads still open are with the managers now (Max's lapsed overnight too); Anna, whose
    # lead is won, has nothing open and gets no digest.
    assert sorted(str(m["To"]) for m in digests) == ["petra.vogel@example.com", "urs.meier@example.com"]
    urs = next(m for m in digests if "urs" in str(m["To"]))
    assert "Sara Keller" in text_of(urs)
