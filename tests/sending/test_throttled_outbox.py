"""The outbox under the mail-host throttle, with a real relay on loopback: a host that defers is
slowed alone, and mail for a host at its limit goes back to the queue for later, never dropped."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from nurture.clock import FixedClock
from nurture.delivery.mail_hosts import MailHosts
from nurture.delivery.throttle import DEFAULT_LIMITS, HostLimit, Throttle
from nurture.delivery.transports import parse_transport
from nurture.errors import SettingsError
from nurture.sending.factory import build_outbox, throttle_from
from nurture.sending.outbox import DeliveryReport, Outbox
from nurture.settings import load_settings
from nurture.store.schema import messages
from nurture.workspace import Workspace
from tests.harness import Harness
from tests.relay import Relay, relay_url, start_relay

MONDAY = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
SLOW = [f"lead{i}@slow{i}.de" for i in range(4)]  # four domains behind one hoster's MX
FINE = [f"lead{i}@fine.de" for i in range(3)]


def stub_mx(domain: str) -> tuple[list[tuple[int, str]], float]:
    if domain.startswith("slow"):
        return [(10, "mx.slowhoster.de")], 3600.0
    raise LookupError(domain)


@pytest.fixture
def relay() -> Iterator[tuple[Relay, str]]:
    handler = Relay()
    controller = start_relay(handler)
    try:
        yield handler, relay_url(controller, data_timeout=2)
    finally:
        controller.stop()


def sender(h: Harness, url: str, limits: dict[str, HostLimit]) -> tuple[Outbox, Throttle]:
    rows = "".join(f"{a},L{i},DE,Europe/Berlin\n" for i, a in enumerate(SLOW + FINE))
    h.import_leads("email,first_name,country,timezone\n" + rows, MONDAY)
    h.tick(MONDAY)  # queues the welcome emails
    assert len(h.messages()) == len(SLOW + FINE)
    workspace = Workspace(h.root)
    transport = parse_transport(url + "&max_connections=4", h.root, workspace.settings)
    throttle = Throttle(limits)
    outbox = build_outbox(
        h.store, h.engine().program, workspace, transport, clock=FixedClock(MONDAY).now,
        throttle=throttle, mail_hosts=MailHosts(stub_mx),
    )  # fmt: skip
    return outbox, throttle


async def deliver(outbox: Outbox) -> DeliveryReport:
    try:
        return await outbox.deliver_due(MONDAY)
    finally:
        await outbox.transport.close()


def statuses(h: Harness) -> dict[str, tuple[str, int, datetime]]:
    m = messages.c
    with h.store.connect() as conn:
        found = conn.execute(select(m.to_address, m.status, m.attempts, m.next_attempt_at))
        return {address: (status, attempts, at) for address, status, attempts, at in found}


def test_a_host_that_defers_is_slowed_and_the_others_are_not(
    harness: Harness, relay: tuple[Relay, str]
) -> None:
    handler, url = relay
    for address in SLOW:
        handler.faults[address] = "421"
    outbox, throttle = sender(harness, url, {"default": HostLimit(100, 10)})
    report = asyncio.run(deliver(outbox))
    assert report.outcomes["sent"] == len(FINE) and report.outcomes["retry"] == len(SLOW)
    assert throttle.rate("slowhoster.de") < 100 and throttle.connections("slowhoster.de") < 10
    assert (throttle.rate("fine.de"), throttle.connections("fine.de")) == (100, 10)
    assert {s.group: s.refusals for s in throttle.states()} == {"slowhoster.de": len(SLOW), "fine.de": 0}


def test_mail_for_a_host_at_its_limit_waits_in_the_queue_and_the_rest_goes(
    harness: Harness, relay: tuple[Relay, str]
) -> None:
    _, url = relay
    # One email per 20 s to the slow hoster (a burst of one): the other three wait their turn.
    outbox, throttle = sender(
        harness, url, {"slowhoster.de": HostLimit(0.05, 1), "default": HostLimit(100, 10)}
    )
    report = asyncio.run(deliver(outbox))
    rows = statuses(harness)
    assert all(rows[a][0] == "sent" for a in FINE)
    slow = sorted((rows[a] for a in SLOW), key=lambda row: row[0])
    assert [row[0] for row in slow] == ["queued", "queued", "queued", "sent"]
    for _, attempts, at in slow[:3]:  # not an attempt: deferred, not failed
        assert attempts == 0
        assert MONDAY + timedelta(seconds=10) <= at.replace(tzinfo=UTC) <= MONDAY + timedelta(seconds=20)
    assert report.deferred == 3 and report.outcomes["sent"] == len(FINE) + 1
    assert {s.group: s.deferred for s in throttle.states()}["slowhoster.de"] == 3
    assert any("deferred  3" in line for line in report.lines())


def test_mail_host_limits_in_the_settings_file_override_the_built_in_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NURTURE_MAIL_HOST_LIMITS", raising=False)  # the tests' own setting
    limits = "{ Google = { rate = 30, connections = 15 }, default = { rate = 2, connections = 1 } }"
    (tmp_path / "nurture.toml").write_text(f"mail_host_limits = {limits}\n", encoding="utf-8")
    throttle = throttle_from(load_settings(tmp_path))
    assert throttle.limit_of("google") == HostLimit(30, 15)
    assert throttle.limit_of("microsoft") == DEFAULT_LIMITS["microsoft"]
    assert throttle.limit_of("hoster.de") == HostLimit(2, 1)


def test_a_wrong_mail_host_limit_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NURTURE_MAIL_HOST_LIMITS", raising=False)
    (tmp_path / "nurture.toml").write_text("mail_host_limits = { google = { rate = 0 } }\n", encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings(tmp_path)
    assert "mail_host_limits.google.rate" in str(caught.value)
    assert "mail_host_limits.google.connections" in str(caught.value)
