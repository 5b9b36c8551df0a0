"""``/metrics`` is served on the admin listener, not to the public; a plain-http base_url is said."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

from sqlalchemy.engine import Engine

from tests.daemon.helpers import DaemonProcess


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_daemon_serves_metrics_only_on_its_admin_listener(sqlite_workspace: tuple[Path, Engine]) -> None:
    root, _ = sqlite_workspace
    daemon = DaemonProcess(root, env={"NURTURE_BASE_URL": "http://mail.example.com"})
    try:
        daemon.wait_healthy()
        assert "nurture_" in daemon.metrics()
        assert status(f"http://127.0.0.1:{daemon.port}/metrics") == 404
        assert status(f"http://127.0.0.1:{daemon.port}/healthz") == 200
        (warning,) = daemon.events("daemon.base_url_not_https")
        assert "'http://mail.example.com' is not https" in warning["problem"]
        assert "RFC 8058" in warning["problem"]
    finally:
        daemon.stop()
