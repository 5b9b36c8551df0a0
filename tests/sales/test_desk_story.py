"""The sales desk through the HTTP app only, checked in headless Chromium: events make an MQL, the
rep's email (from the Maildir) links to the lead page, where the rep, in the browser, accepts and
wins the deal with an amount by clicking the page's own forms; a CH lead goes to the Swiss team; a
link is refused once the lead was reassigned; and on a moved clock the rep is reminded, the lead
escalates to the manager, and the digest comes."""

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
from sqlalchemy import select
from sqlalchemy.engine import Engine

from nurture.clock import FixedClock
from nurture.http import HttpContext, create_app
from nurture.store.schema import stage_changes
from nurture.workspace import Workspace
from tests.browser import CHROMIUM, chromium, chromium_tab
from tests.engagement.conftest import INGEST_KEY, serving
from tests.sales.desk import LEADS, MONDAY, SLA, Desk, team, write_workspace
from tests.sales.test_teams import CH_TEAM, ROUTES

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)"
)

SALES_KEY = "sales-key-for-the-story-0123456789"
LEAD_LINK = re.compile(r"https://nurture\.example(/sales/lead/[A-Za-z0-9_-]+)")
NOTICE = "document.getElementById('notice')?.innerText"  # what the page says a step did


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
    # Each event names itself, so a retried request would not count twice.
    numbered = [{**item, "id": f"{email}-{n}"} for n, item in enumerate(items)]
    answer = client.post("/api/events", json=numbered, headers=headers)
    assert answer.json()["stored"] == 5, answer.text


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


def deal_changes(desk: Desk, email: str) -> list[Any]:
    """The lead's stage changes with the deal's amount and currency, in order."""
    with desk.store.connect() as conn:
        c = stage_changes.c
        query = select(c.to_stage, c.amount, c.currency, c.actor).order_by(c.id)
        return list(conn.execute(query.where(c.lead_id == desk.lead_id(email, conn))).all())


def tick(cli: Any, at: object) -> None:
    result = cli("tick", "--now", at.isoformat())  # type: ignore[attr-defined]
    assert result.exit_code == 0, result.output


def test_the_sales_desk_story(desk: Desk, server: tuple[str, httpx.Client], cli: Any, tmp_path: Path) -> None:
    url, client = server
    qualify(client, "lena@alpenblick.de")  # DE: the default team, Monday 09:30 in Berlin
    tick(cli, MONDAY)
    (notice,) = mails(desk.root, "anna@sales.example")
    link = LEAD_LINK.search(text_of(notice)).group(1)  # type: ignore[union-attr]

    # Anna opens the link from her email in the browser and takes each step with the page's own forms.
    with chromium_tab(tmp_path / "rep") as tab:
        tab.open(url + link)
        page = str(tab.evaluate("document.documentElement.outerHTML"))
        assert "Lena Wolf" in page and 'id="why"' in page and "Demo requested" in page
        assert "Mon, Mar 2, 2026 1:30" in page  # 4 working hours, in Anna's zone
        tab.evaluate("document.getElementById('accept').click()")
        notice = tab.wait_for(NOTICE)  # the page the form's POST answered with
        assert notice == "Accepted: the lead is yours now."
        assert desk.handoffs("lena@alpenblick.de")[-1].status == "accepted"
        # The convert form, filled in and sent by its button.
        tab.evaluate("document.getElementById('to-stage').value = 'customer'")
        tab.evaluate("document.getElementById('amount').value = '12000'")
        tab.evaluate("document.getElementById('currency').value = 'EUR'")
        tab.evaluate("document.getElementById('convert').click()")
        notice = tab.wait_for(f"/^Saved/.test({NOTICE}) && {NOTICE}")
        assert notice == "Saved: the lead is now customer."
        assert tab.evaluate("document.getElementById('stage').innerText") == "customer"
        assert "€12,000.00" in str(tab.evaluate("document.getElementById('history').innerText"))
    assert desk.stage("lena@alpenblick.de") == "customer"
    (won,) = [change for change in deal_changes(desk, "lena@alpenblick.de") if change.to_stage == "customer"]
    assert (won.amount, won.currency, won.actor) == (12000, "EUR", "anna")

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
