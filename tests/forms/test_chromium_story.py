"""The whole story in headless Chromium: a visitor fills in the embedded form on the company's
site, reads the confirmation email from the Maildir, follows its link, confirms, and the lead
enters the newsletter campaign."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from nurture.clock import FixedClock
from nurture.definitions import load_program
from nurture.engine.tick import CampaignEngine
from nurture.forms.snippet import form_snippet
from nurture.http import HttpContext, build_server, create_app
from nurture.lifecycle import Lifecycle
from nurture.sending.factory import build_outbox
from nurture.store.schema import enrollments, messages
from nurture.workspace import Workspace
from tests.browser import CHROMIUM, BrowserTab
from tests.forms.conftest import NOW, Site, write_forms_workspace

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)"
)


class CompanySite(BaseHTTPRequestHandler):
    """The company's website: the page with the embedded form, and the thank-you page."""

    pages: dict[str, bytes]

    def do_GET(self) -> None:
        body = self.pages.get(self.path.split("?")[0])
        self.send_response(200 if body else 404)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def company() -> Iterator[tuple[str, dict[str, bytes]]]:
    pages: dict[str, bytes] = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (CompanySite,), {"pages": pages}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", pages
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def serving_later() -> Iterator[tuple[int, Callable[[Any], str]]]:
    """A loopback port taken now, and a function that serves an app on it (its URL) once made."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    running: list[Any] = []

    def start(app: Any) -> str:
        server = build_server(app, "127.0.0.1", port, log_level="warning")
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        running.append((server, thread))
        deadline = time.monotonic() + 10
        while not server.started:  # readiness, not a timing assumption
            assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.005)
        return f"http://127.0.0.1:{port}"

    try:
        yield port, start
    finally:
        for server, thread in running:
            server.should_exit = True
            thread.join(timeout=10)
        sock.close()


def test_fill_in_confirm_from_the_maildir_and_enter_the_campaign(
    tmp_path: Path, store_url: str, store: Engine, company: tuple[str, dict[str, bytes]]
) -> None:
    origin, pages = company
    root = tmp_path / "ws"
    # The server's port is chosen first, so links in the email lead to it.
    with serving_later() as (port, start):
        write_forms_workspace(root, store_url, 'transport = "maildir:outbox"\n')
        toml = (root / "nurture.toml").read_text(encoding="utf-8")
        toml = toml.replace("https://nurture.taktwerk.example", f"http://127.0.0.1:{port}")
        toml = toml.replace("https://www.taktwerk.example", origin)
        (root / "nurture.toml").write_text(toml, encoding="utf-8")
        forms_file = root / "campaigns" / "extra.yaml"
        forms_file.write_text(forms_file.read_text().replace("https://www.taktwerk.example", origin))
        workspace = Workspace(root)
        program = load_program(workspace)
        snippet = form_snippet(program.form("newsletter"), workspace.settings.base_url, "de")
        pages["/newsletter"] = (
            f"<!doctype html><html><body><h1>Newsletter</h1>{snippet}</body></html>".encode()
        )
        pages["/danke"] = b"<!doctype html><html><body><h1 id='danke'>Danke!</h1></body></html>"
        clock = FixedClock(NOW)
        context = HttpContext.from_workspace(workspace, engine=store, clock=clock)
        url = start(create_app(context))

        with BrowserTab(tmp_path / "profile") as tab:
            tab.open(f"{origin}/newsletter")
            tab.evaluate("document.getElementById('nf-newsletter-email').value = 'lena@alpenblick.de'")
            tab.evaluate("document.getElementById('nf-newsletter-first_name').value = 'Lena'")
            tab.evaluate("document.getElementById('nf-newsletter-country').value = 'DE'")
            tab.evaluate("document.getElementById('nf-newsletter-consent').click()")
            hidden = tab.evaluate(
                "(() => { const r = document.getElementById('nf-newsletter-website').getBoundingClientRect();"
                " return r.right <= 0 || r.width <= 1; })()"
            )
            assert hidden  # the honeypot is there, and out of sight
            tab.evaluate("document.querySelector('.nurture-form button[type=submit]').click()")
            assert tab.wait_for("document.getElementById('danke') && location.pathname") == "/danke"

            site = Site(httpx.Client(base_url=url), context, clock, store)
            assert site.consent("lena@alpenblick.de", "newsletter") == "pending"
            _send_outbox(store, workspace, clock)
            link = _link_from_maildir(root / "outbox", "lena@alpenblick.de")
            assert link.startswith(f"http://127.0.0.1:{port}/forms/confirm/")

            tab.open(link)
            assert (
                site.consent("lena@alpenblick.de", "newsletter") == "pending"
            )  # showing the page is not consent
            tab.evaluate("document.querySelector('form button[type=submit]').click()")
            tab.wait_for("document.body && /bestätigt|confirmed/.test(document.body.innerText)")
            assert site.consent("lena@alpenblick.de", "newsletter") == "confirmed"

        clock.advance(timedelta(minutes=1))
        lifecycle = Lifecycle.of(program, workspace.settings)
        engine = CampaignEngine(store, program, workspace.settings, then=lifecycle)
        engine.record_program(clock.now())
        engine.tick(clock.now())
        lead = site.lead("lena@alpenblick.de")
        with store.connect() as conn:
            entered = (
                conn.execute(select(enrollments.c.campaign_key).where(enrollments.c.lead_id == lead.id))
                .scalars()
                .all()
            )
            sent = conn.execute(
                select(messages.c.step_id, messages.c.status).where(
                    messages.c.lead_id == lead.id, messages.c.kind == "marketing"
                )
            ).all()
        assert "newsletter" in entered
        assert ("first-issue", "queued") in [tuple(row) for row in sent]


def _send_outbox(store: Engine, workspace: Workspace, clock: FixedClock) -> None:
    outbox = build_outbox(store, load_program(workspace), workspace, clock=clock.now)

    async def run() -> None:
        try:
            await outbox.deliver_due(clock.now())
        finally:
            await outbox.transport.close()

    asyncio.run(run())


def _link_from_maildir(maildir: Path, to: str) -> str:
    (path,) = [p for p in (maildir / "new").iterdir() if to in p.read_text(errors="replace")]
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert (
        message["List-Unsubscribe"] is None
    )  # nurture's own transactional email: no unsubscribe, no tracking
    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    found = re.search(r"http://127\.0\.0\.1:\d+/forms/confirm/[A-Za-z0-9_-]+", text)
    assert found is not None, text
    return found.group(0)
