"""Webhooks to a rep's chat or CRM: signed JSON, retried with backoff until the receiver takes it."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from nurture.sales import deliver_webhooks, webhook_key
from nurture.sales.webhooks import MAX_ATTEMPTS, retry_delay
from nurture.store.schema import webhook_deliveries
from tests.ports import free_port
from tests.sales.desk import MONDAY, Desk, team, write_workspace

LEAD = "lena@alpenblick.de"


class Receiver:
    """A local endpoint that answers with the statuses it is given, then 200."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/nurture"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver([500, 503])
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def with_webhook(desk: Desk, url: str) -> None:
    write_workspace(desk.root, sales_team=team(reps="anna:DE:30", extra=f", webhook: '{url}'"))
    desk.reload()
    desk.import_leads("email,first_name,country\nlena@alpenblick.de,Lena,DE\n")
    desk.make_mql(LEAD, MONDAY)


def delivery(desk: Desk) -> Any:
    with desk.store.connect() as conn:
        return conn.execute(select(webhook_deliveries)).one()


def test_a_failing_receiver_gets_the_same_signed_body_again_until_it_takes_it(
    desk: Desk, receiver: Receiver
) -> None:
    with_webhook(desk, receiver.url)
    assert deliver_webhooks(desk.store, MONDAY).retrying == 1
    assert deliver_webhooks(desk.store, MONDAY + timedelta(seconds=29)).retrying == 0  # backing off
    assert deliver_webhooks(desk.store, MONDAY + timedelta(seconds=30)).retrying == 1
    assert delivery(desk).next_attempt_at == MONDAY + timedelta(seconds=90)
    report = deliver_webhooks(desk.store, MONDAY + timedelta(seconds=90))
    assert (report.delivered, report.retrying) == (1, 0)
    row = delivery(desk)
    assert (row.status, row.attempts, row.delivered_at, row.last_error) == (
        "delivered",
        3,
        MONDAY + timedelta(seconds=90),
        None,
    )
    assert len(receiver.requests) == 3
    assert len({body for _, body in receiver.requests}) == 1
    headers, body = receiver.requests[-1]
    timestamp, _, mac = headers["X-Nurture-Signature"].partition(",v1=")
    key = webhook_key(desk.settings, desk.root)
    signed = timestamp.removeprefix("t=").encode() + b"." + body
    assert hmac.compare_digest(mac, hmac.new(key, signed, hashlib.sha256).hexdigest())
    payload = json.loads(body)
    assert (payload["event"], payload["rep"]["id"], payload["lead"]["email"]) == ("lead.routed", "anna", LEAD)
    assert payload["accept_url"].startswith("https://nurture.example/sales/accept/")
    assert headers["X-Nurture-Event"] == "lead.routed"


def test_an_unreachable_receiver_is_given_up_after_the_last_attempt(desk: Desk) -> None:
    port = free_port()  # a port nobody listens on
    with_webhook(desk, f"http://127.0.0.1:{port}/")
    now = MONDAY
    for attempt in range(1, MAX_ATTEMPTS + 1):
        report = deliver_webhooks(desk.store, now)
        assert (report.retrying, report.failed) == ((1, 0) if attempt < MAX_ATTEMPTS else (0, 1))
        now += retry_delay(attempt)
    row = delivery(desk)
    assert (row.status, row.attempts) == ("failed", MAX_ATTEMPTS)
    assert "ConnectError" in row.last_error


def test_backoff_doubles_and_is_capped() -> None:
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert retry_delay(20) == timedelta(hours=1)


def test_a_team_webhook_hears_of_every_handoff_even_when_nobody_fits(desk: Desk, receiver: Receiver) -> None:
    receiver.statuses.clear()
    spec = team(reps="anna:DE:30").replace(
        "routing: round_robin", f"routing: round_robin\nwebhook: '{receiver.url}'"
    )
    write_workspace(desk.root, sales_team=spec)
    desk.reload()
    desk.import_leads("email,first_name,country\nlena@alpenblick.de,Lena,DE\nmarco@firma.it,Marco,IT\n")
    desk.make_mql(LEAD, MONDAY)
    desk.make_mql("marco@firma.it", MONDAY)  # no rep covers Italy: the manager gets it
    assert deliver_webhooks(desk.store, MONDAY).delivered == 2
    payloads = [json.loads(body) for _, body in receiver.requests]
    by_lead = {p["lead"]["email"]: p for p in payloads}
    assert by_lead[LEAD]["rep"]["id"] == "anna" and by_lead[LEAD]["team"] == "dach-sales"
    assert by_lead["marco@firma.it"]["rep"] is None
    assert by_lead["marco@firma.it"]["manager"]["email"] == "petra.vogel@example.com"
    # Everyone in the channel reads the team's webhook: no signed link that acts as the holder.
    for payload in payloads:
        assert not {"accept_url", "reject_url", "lead_url"} & set(payload)
        assert "/sales/" not in json.dumps(payload)
        assert isinstance(payload["lead_id"], int)


def with_chat(desk: Desk, url: str, form: str) -> None:
    sales_team = team(reps="anna:DE:30").replace(
        "routing: round_robin\n", f"routing: round_robin\nwebhook: '{url}'\nwebhook_format: {form}\n"
    )
    write_workspace(desk.root, sales_team=sales_team)
    desk.reload()
    desk.import_leads(
        "email,first_name,last_name,company,country\nlena@alpenblick.de,Lena,<b>Wolf</b>,[Evil](https://x.example),DE\n"
    )
    desk.make_mql(LEAD, MONDAY)


def test_a_slack_team_gets_an_incoming_webhook_message_with_blocks(desk: Desk, receiver: Receiver) -> None:
    receiver.statuses.clear()
    with_chat(desk, receiver.url, "slack")
    assert deliver_webhooks(desk.store, MONDAY).delivered == 1
    (headers, body) = receiver.requests[0]
    message = json.loads(body)
    assert set(message) == {"text", "blocks"} and headers["Content-Type"] == "application/json"
    assert message["text"] == "New lead: Lena &lt;b&gt;Wolf&lt;/b&gt;"  # mrkdwn: escaped
    header, section, context = message["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": "New lead: Lena <b>Wolf</b>"}}
    assert section["type"] == "section" and all(f["type"] == "plain_text" for f in section["fields"])
    assert {"type": "plain_text", "text": "Company: [Evil](https://x.example)"} in section["fields"]
    assert context["elements"][0]["text"].startswith("Accept by Mon 02 Mar 2026 13:30")
    assert {"type": "plain_text", "text": "With: Anna Rep"} in section["fields"]
    assert "/sales/" not in body.decode()  # the channel gets no link that acts as the rep


def test_a_teams_team_gets_a_workflows_message_with_an_adaptive_card(desk: Desk, receiver: Receiver) -> None:
    receiver.statuses.clear()
    with_chat(desk, receiver.url, "teams")
    assert deliver_webhooks(desk.store, MONDAY).delivered == 1
    message = json.loads(receiver.requests[0][1])
    assert message["type"] == "message"
    (attachment,) = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"], card["$schema"]) == (
        "AdaptiveCard",
        "1.4",
        "http://adaptivecards.io/schemas/adaptive-card.json",
    )
    title, facts, due = card["body"]
    assert title["type"] == "TextBlock" and r"Lena \<b\>Wolf\</b\>" in title["text"]
    assert {"title": "Company", "value": r"\[Evil\]\(https://x.example\)"} in facts["facts"]
    assert {"title": "With", "value": "Anna Rep"} in facts["facts"]
    assert due["type"] == "TextBlock"
    assert "actions" not in card and "/sales/" not in receiver.requests[0][1].decode()
