"""`nurture pause` stops a running daemon's sending within seconds; `resume` starts it again."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from click.testing import CliRunner
from sqlalchemy.engine import Engine

from nurture.cli import main
from tests.daemon.helpers import PINNED, DaemonProcess, import_leads, make_workspace, wait_for
from tests.ports import free_port

LEADS = 1500
RATE = 100  # emails per second the daemon hands to the relay: the backlog takes 15 s


class CountingRelay:
    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        with self.lock:
            self.count += 1
        return "250 2.0.0 queued"


def _cli(root: Path, *args: str) -> Any:
    env = {"NURTURE_NOW": PINNED.isoformat()}
    result = CliRunner().invoke(main, ["--workspace", str(root), *args], env=env)
    assert result.exit_code == 0, result.output
    return result


def test_pause_stops_a_running_daemon_within_seconds(tmp_path: Path, store_url: str, store: Engine) -> None:
    url = store_url
    relay = CountingRelay()
    controller = Controller(relay, hostname="127.0.0.1", port=free_port())
    controller.start()
    root = make_workspace(tmp_path / "ws", url, transport=f"smtp://127.0.0.1:{controller.port}?tls=none")
    with (root / "nurture.toml").open("a", encoding="utf-8") as settings:
        settings.write(f"smtp_rate_per_second = {RATE}\n")
    import_leads(root, store, LEADS)
    daemon = DaemonProcess(root)
    try:
        daemon.wait_healthy()
        wait_for(lambda: relay.count >= 100, 30, "the daemon to be sending")
        _cli(root, "pause", "--actor", "petra", "--reason", "checking the list")
        paused_at = time.monotonic()
        # The replica obeys at its next claim: the batch in hand goes out, then nothing.
        wait_for(lambda: _steady(relay), 10, "sending to stop")
        assert time.monotonic() - paused_at < 8
        stopped_at = relay.count
        assert stopped_at < LEADS
        time.sleep(2)
        assert relay.count == stopped_at
        status, health = daemon.healthz()
        assert status == 200  # a paused campaign is not a sick replica
        (pause,) = health["sending"]["paused"]
        assert pause["scope"] == "all marketing mail" and pause["paused_by"] == "petra"
        gauge = 'nurture_sending_paused{campaign="*",reason="manual"} 1.0'
        wait_for(lambda: gauge in daemon.metrics(), 10, "the paused gauge in /metrics")
        shown = _cli(root, "campaigns").output
        assert "all marketing mail is paused" in shown and "checking the list" in shown

        _cli(root, "resume", "--actor", "petra")
        wait_for(lambda: relay.count == LEADS, 60, "the rest to be sent after resume")
        audit = _cli(root, "audit").output
        assert "petra" in audit and " pause " in audit and " resume " in audit
    finally:
        daemon.ensure_gone()
        controller.stop()


def _steady(relay: CountingRelay) -> bool:
    before = relay.count
    time.sleep(1.0)
    return relay.count == before
