"""``nurture run`` as operators run it: a real process on SQLite, its health, signals and reloads."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from nurture.store.schema import messages
from tests.daemon.helpers import (
    DaemonProcess,
    count_delivered,
    import_leads,
    subjects,
    wait_for,
)
from tests.program import TRIAL

BROKEN_TRIAL = TRIAL.replace("    send: {template: t/reminder,", "    sned: {template: t/reminder,")
EDITED_TRIAL = TRIAL.replace(
    'subject: "Willkommen, {{ lead.first_name }}!"', 'subject: "Neu hier, {{ lead.first_name }}?"'
)


@pytest.mark.slow
def test_the_daemon_sends_reloads_refuses_bad_edits_and_stops_on_sigterm(
    sqlite_workspace: tuple[Path, Engine],
) -> None:
    root, store = sqlite_workspace
    outbox = root / "outbox"
    import_leads(root, store, 40)
    systemd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    systemd.bind(str(root / "notify.sock"))
    systemd.settimeout(10)
    daemon = DaemonProcess(root, env={"NOTIFY_SOCKET": str(root / "notify.sock")})
    try:
        health = daemon.wait_healthy()
        assert set(health["checks"]) == {"database", "scheduler", "transport"}
        assert systemd.recv(4096).decode().splitlines()[0] == "READY=1"
        wait_for(lambda: count_delivered(outbox) == 40, 30, "the first 40 emails")

        # An invalid edit is refused loudly, with its place, and the running program keeps going.
        (root / "campaigns" / "trial.yaml").write_text(BROKEN_TRIAL, encoding="utf-8")
        daemon.process.send_signal(signal.SIGHUP)
        assert systemd.recv(4096).decode().startswith("RELOADING=1\nMONOTONIC_USEC=")
        assert systemd.recv(4096).decode() == "READY=1"
        refused = wait_for(lambda: daemon.events("definitions.refused"), 20, "the refusal")
        assert any(
            p.startswith("campaigns/trial.yaml:16:5: unknown step kind 'sned'")
            for p in refused[0]["problems"]
        )
        assert daemon.wait_healthy()["status"] == "ok"
        import_leads(root, store, 10, start=40)
        wait_for(lambda: count_delivered(outbox) == 50, 30, "emails to leads imported after the refused edit")
        assert "nurture_definitions_stale 1.0" in daemon.metrics()

        # A valid edit is picked up without a signal: the reload job sees the file change.
        (root / "campaigns" / "trial.yaml").write_text(EDITED_TRIAL, encoding="utf-8")
        wait_for(lambda: daemon.events("definitions.reloaded"), 20, "the reload")
        import_leads(root, store, 5, start=50)
        wait_for(lambda: count_delivered(outbox) == 55, 30, "emails to leads imported after the edit")
        assert subjects(outbox)["Neu hier, L52?"] == 1
        metrics = daemon.metrics()
        assert 'nurture_outbox_verdicts_total{status="sent"} 55.0' in metrics
        assert 'nurture_definition_reloads_total{outcome="refused"} 1.0' in metrics
        assert "nurture_job_duration_seconds_count" in metrics

        code, took = daemon.stop(signal.SIGTERM)
        assert systemd.recv(4096).decode() == "STOPPING=1"
    finally:
        daemon.ensure_gone()
        systemd.close()
    assert code == 0, daemon.tail()
    assert took < 10
    (stopped,) = daemon.events("daemon.stopped")
    assert stopped["exit_code"] == 0 and "abandoned" not in stopped
    with store.connect() as conn:
        statuses = dict(
            conn.execute(select(messages.c.status, func.count()).group_by(messages.c.status)).all()
        )
    assert statuses == {"sent": 55}
    assert "test-secret-key-0123456789" not in daemon.log_path.read_text()
