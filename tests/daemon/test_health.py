"""What /healthz says about the transport, read straight from the daemon's health record."""

from __future__ import annotations

from pathlib import Path

import pytest

from nurture.daemon.health import DaemonHealth
from nurture.delivery.transports import parse_transport
from tests.ports import free_port


def relay_health(tmp_path: Path) -> DaemonHealth:
    transport = parse_transport(f"smtp://127.0.0.1:{free_port()}?tls=none", tmp_path)  # nobody listens
    return DaemonHealth(transport=transport, scheduler_running=lambda: True)


def test_a_relay_that_does_not_answer_is_reported(tmp_path: Path) -> None:
    health = relay_health(tmp_path)
    assert "does not answer" in (health.transport_check() or "")


def test_mail_that_went_through_clears_a_failed_probe_at_once(tmp_path: Path) -> None:
    health = relay_health(tmp_path)
    assert health.transport_check() is not None  # probed and failed: kept for the probe's cache time
    health.sends_finished(sent=1, retried=0)
    assert health.transport_check() is None


def test_a_run_whose_every_send_failed_is_reported_until_one_goes_through(tmp_path: Path) -> None:
    health = relay_health(tmp_path)
    health.sends_finished(sent=0, retried=5)
    assert health.transport_check() == "all 5 sends of the last run failed for now and will be retried"
    health.sends_finished(sent=1, retried=4)
    assert health.transport_check() is None


def test_a_probe_that_fails_while_mail_goes_through_does_not_override_it(tmp_path: Path) -> None:
    health = relay_health(tmp_path)
    probe = health.transport_check  # the HTTP thread's probe of a relay that did not answer yet

    def mail_went_through_meanwhile(transport: object) -> str:
        health.sends_finished(sent=1, retried=0)
        return "the SMTP relay does not answer"

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("nurture.daemon.health.probe_transport", mail_went_through_meanwhile)
        assert probe() is None
    assert health.transport_check() is None
