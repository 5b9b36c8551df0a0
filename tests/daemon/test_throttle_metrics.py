"""``nurture run`` shows the mail-host throttle in ``/metrics``: per host group the rate and
connection limits in force, the emails on the wire, and deferrals and refusals so far; and the
warm-up's allowance and use today."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy.engine import Engine

from tests.daemon.helpers import PINNED, DaemonProcess, import_leads, make_workspace, wait_for
from tests.relay import Relay, relay_url, start_relay

LIMITS = '{"default": {"rate": 40, "connections": 8}}'


def figure(metrics: str, name: str, group: str) -> float | None:
    found = re.search(rf'^{name}{{group="{re.escape(group)}"}} (\S+)$', metrics, re.MULTILINE)
    return float(found.group(1)) if found else None


def test_the_throttle_of_each_host_group_is_in_metrics(
    tmp_path: Path, sqlite_store: tuple[str, Engine]
) -> None:
    url, store = sqlite_store
    handler = Relay()
    handler.faults["lead0@firma0.de"] = "421"  # firma0.de defers; firma1.de takes its email
    controller = start_relay(handler)
    daemon: DaemonProcess | None = None
    try:
        root = make_workspace(tmp_path / "ws", url, transport=relay_url(controller))
        import_leads(root, store, 2)
        warmup = {"NURTURE_WARMUP_START": PINNED.date().isoformat(), "NURTURE_WARMUP_SCHEDULE": "[5]"}
        daemon = DaemonProcess(root, env={"NURTURE_MAIL_HOST_LIMITS": LIMITS, **warmup})
        daemon.wait_healthy()

        def refused() -> str | None:
            metrics = daemon.metrics() if daemon is not None else ""
            return metrics if figure(metrics, "nurture_mail_host_refusals", "firma0.de") else None

        metrics = wait_for(refused, 60, "a refusal from firma0.de in /metrics")
    finally:
        if daemon is not None:
            daemon.stop()
        controller.stop()
    # Halved by the 421, and recovering from there over ten minutes (20 s of it at most here).
    assert 20 <= (figure(metrics, "nurture_mail_host_rate_limit", "firma0.de") or 0) < 21
    assert figure(metrics, "nurture_mail_host_connection_limit", "firma0.de") == 4
    assert figure(metrics, "nurture_mail_host_rate_limit", "firma1.de") == 40
    assert figure(metrics, "nurture_mail_host_in_flight", "firma1.de") in (
        0,
        1,
    )  # its email may be on the wire
    assert figure(metrics, "nurture_mail_host_deferred", "firma1.de") == 0
    assert re.search(r"^nurture_warmup_allowance 5\.0$", metrics, re.MULTILINE)
    assert re.search(r"^nurture_warmup_used [0-2]\.0$", metrics, re.MULTILINE)
