"""A sent email opened in a real (headless) Chromium: the pixel loads, a click lands on the target.

The email's HTML is tracked by :class:`LinkTracker` against the live server; the link's target is
a second tiny HTTP server started here, which must see the reader arrive with the exact URL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from nurture.delivery.render import RenderedEmail
from tests.browser import CHROMIUM, chromium
from tests.engagement.conftest import BROWSER, Live, Mailroom

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)"
)


class Landing(BaseHTTPRequestHandler):
    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(self.path)
        body = b"<!doctype html><html><body><h1 id='landed'>Fallstudie</h1></body></html>"
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def landing() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("Handler", (Landing,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_a_sent_email_in_chromium_records_the_open_and_the_click_lands(
    live: Live, mailroom: Mailroom, landing: tuple[str, list[str]], tmp_path: Path
) -> None:
    target_base, seen = landing
    target = f"{target_base}/fallstudie?utm_source=nurture&utm_campaign=trial"
    lead_id = mailroom.lead("lena@alpenblick.de")
    message_id = mailroom.message(lead_id, step="case-study")
    unsubscribe = live.tracker.unsubscribe_url(message_id, lead_id)
    email = RenderedEmail(
        subject="Wie Alpenblick Zeit spart",
        html=(
            "<!doctype html><html><body><p>Hallo Lena,</p>"
            f'<p><a id="case" href="{target}">Zur Fallstudie</a></p>'
            f'<p><a href="{unsubscribe}">Abmelden</a></p></body></html>'
        ),
        text="",
    )
    tracked = live.tracker.track(email, message_id, unsubscribe_url=unsubscribe)
    page = tmp_path / "email.html"
    page.write_text(tracked.html, encoding="utf-8")

    chromium(page.as_uri(), tmp_path / "profile-open")
    (opened,) = mailroom.events()
    assert (opened.type, opened.lead_id, opened.step_id) == ("email_open", lead_id, "case-study")
    assert opened.machine_reason == "headless"  # Chromium says so in its user agent: honestly flagged

    click_url = tracked.html.split('id="case" href="', 1)[1].split('"', 1)[0]
    assert click_url.startswith(f"{live.url}/c/")
    dom = chromium(click_url, tmp_path / "profile-click", f"--user-agent={BROWSER}")
    assert "Fallstudie" in dom and 'id="landed"' in dom
    assert [path for path in seen if path != "/favicon.ico"] == [
        "/fallstudie?utm_source=nurture&utm_campaign=trial"
    ]
    clicked = mailroom.events()[-1]
    assert (clicked.type, clicked.url, clicked.machine_reason) == ("email_click", target, None)
