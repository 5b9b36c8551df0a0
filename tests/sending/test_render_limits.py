"""A template over the render limits fails its own email, with the reason, and nothing else."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy import select

from nurture.delivery.transports import MemoryTransport
from nurture.store.schema import messages
from tests.harness import Harness
from tests.sending.test_outbox import LEADS, deliver

MONDAY = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


def verdicts(h: Harness) -> dict[str, tuple[str, str | None]]:
    with h.store.connect() as conn:
        rows = conn.execute(select(messages.c.to_address, messages.c.status, messages.c.last_error)).all()
    return {address: (status, error) for address, status, error in rows}


def test_an_oversized_render_fails_that_email_quickly_and_the_others_are_sent(harness: Harness) -> None:
    h = harness
    (h.root / "templates" / "t" / "welcome.html").write_text(
        "<p>Hallo {{ lead.first_name }}</p>"
        "{% if lead.first_name == 'Jens' %}{{ 'a' * 100000000 }}{% endif %}",
        encoding="utf-8",
    )
    h.import_leads(LEADS, MONDAY)
    h.tick(MONDAY)
    started = time.monotonic()
    report = deliver(h, MONDAY, MemoryTransport())
    assert time.monotonic() - started < 10  # it took 19 s and 2.3 GB per email
    assert report.outcomes == {"sent": 1, "failed": 1}
    found = verdicts(h)
    assert found["anna@alpenblick.de"][0] == "sent"
    status, error = found["jens@rheinwerk.de"]
    assert status == "failed"
    assert error is not None and "t/welcome.html:1" in error and "render_max_chars" in error


def test_a_render_over_the_time_limit_fails_that_email(harness: Harness) -> None:
    h = harness
    settings = h.root / "nurture.toml"
    settings.write_text(settings.read_text() + "render_time_limit = 0.2\n", encoding="utf-8")
    (h.root / "templates" / "t" / "welcome.html").write_text(
        "<p>{{ lead.first_name }}</p>{% if lead.first_name == 'Anna' %}"
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}{% endif %}",
        encoding="utf-8",
    )
    h.import_leads(LEADS, MONDAY)
    h.tick(MONDAY)
    started = time.monotonic()
    report = deliver(h, MONDAY, MemoryTransport())
    assert time.monotonic() - started < 10
    assert report.outcomes == {"sent": 1, "failed": 1}
    status, error = verdicts(h)["anna@alpenblick.de"]
    assert status == "failed" and error is not None
    assert "rendering took longer than 0.2 s (render_time_limit)" in error
