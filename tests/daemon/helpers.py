"""Running ``nurture run`` as a real process in tests, and reading what it delivered."""

from __future__ import annotations

import email.parser
import email.policy
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from nurture.leads.importer import LeadImporter
from tests.ports import free_port
from tests.program import write_program

# A Monday, 10:30 in Berlin: inside the test program's send window.
PINNED = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

# Jobs that matter in tests run every second; the rest keep their (slow) defaults.
FAST_JOBS = """\
jobs:
  advance: {every: 1s, misfire_grace_time: 5s}
  send: {every: 1s, misfire_grace_time: 5s}
  reload: {every: 1s, misfire_grace_time: 5s}
  stats: {every: 1s, misfire_grace_time: 5s}
"""

_HEADERS = email.parser.BytesHeaderParser(policy=email.policy.default)


def make_workspace(
    root: Path, database_url: str, *, jobs: str = FAST_JOBS, transport: str = "maildir:outbox"
) -> Path:
    """A workspace with the small test program, fast jobs and a Maildir outbox."""
    (root / "campaigns").mkdir(parents=True, exist_ok=True)
    (root / "templates").mkdir(exist_ok=True)
    (root / "nurture.toml").write_text(
        f'database_url = "{database_url}"\nsecret_key = "test-secret-key-0123456789"\n'
        f'transport = "{transport}"\ntimezone = "Europe/Berlin"\nfrequency_cap = 3\n'
        'frequency_window = "7d"\nfrom_address = "Taktwerk <hallo@taktwerk.example>"\n',
        encoding="utf-8",
    )
    write_program(root)
    (root / "scheduler").mkdir(exist_ok=True)
    (root / "scheduler" / "jobs.yaml").write_text(jobs, encoding="utf-8")
    return root


def import_leads(root: Path, store: Engine, count: int, *, start: int = 0, now: datetime = PINNED) -> None:
    """``count`` German leads (who enter the trial campaign) with addresses lead<N>@firma<N>.de."""
    rows = "".join(f"lead{i}@firma{i}.de,L{i},DE,Europe/Berlin\n" for i in range(start, start + count))
    path = root / f"leads-{start}.csv"
    path.write_text("email,first_name,country,timezone\n" + rows, encoding="utf-8")
    report = LeadImporter(store, now).run(path)
    assert report.rejected == 0, report.problems


class DaemonProcess:
    """One ``nurture run`` subprocess; its stderr (the JSON log) goes to a file."""

    def __init__(
        self,
        root: Path,
        *,
        now: datetime | None = PINNED,
        port: int | None = None,
        name: str = "daemon",
        env: dict[str, str] | None = None,
    ) -> None:
        self.root = root
        self.port = port or free_port()
        self.admin_port = free_port()  # the admin listener: /metrics
        self.log_path = root / f"{name}-{self.port}.log"
        environment = {
            **os.environ,
            "NURTURE_WORKSPACE": str(root),
            "NURTURE_HTTP_PORT": str(self.port),
            "NURTURE_METRICS_BIND": f"127.0.0.1:{self.admin_port}",
        }
        if now is not None:  # None: the system clock, as in production
            environment["NURTURE_NOW"] = now.isoformat()
        else:
            environment.pop("NURTURE_NOW", None)
        environment.pop("NOTIFY_SOCKET", None)
        environment.update(env or {})
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "nurture", "run", "--log-level", "info"],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> list[dict[str, Any]]:
        """Every JSON line logged so far."""
        lines = []
        for raw in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                lines.append(json.loads(raw))
            except json.JSONDecodeError:
                lines.append({"event": raw})
        return lines

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.log() if line.get("event") == name]

    def healthz(self) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/metrics", timeout=2) as response:
            return str(response.read().decode("utf-8"))

    def wait_healthy(self, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the daemon exited: {self.tail()}"
            try:
                status, body = self.healthz()
            except OSError:
                time.sleep(0.1)
                continue
            if status == 200:
                return body
            time.sleep(0.1)
        raise AssertionError(f"the daemon never became healthy: {self.tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> tuple[int, float]:
        """Send ``sig`` and wait; the exit code and how long it took to exit."""
        started = time.monotonic()
        self.process.send_signal(sig)
        code = self.process.wait(timeout=timeout)
        self._log.close()
        return code, time.monotonic() - started

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._log.close()

    def ensure_gone(self) -> None:
        if self.process.poll() is None:
            self.kill()
        self._log.close()

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def wait_for(condition: Callable[[], Any], timeout: float, what: str, *, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def delivered(maildir: Path) -> list[Path]:
    """Messages a Maildir has received (``new/``; files still in ``tmp/`` never arrived)."""
    folder = maildir / "new"
    return [folder / name for name in os.listdir(folder)] if folder.is_dir() else []


def count_delivered(maildir: Path) -> int:
    folder = maildir / "new"
    return len(os.listdir(folder)) if folder.is_dir() else 0


def message_ids(maildir: Path) -> Counter[str]:
    """How often each Message-ID arrived in the Maildir."""
    found: Counter[str] = Counter()
    for path in delivered(maildir):
        with path.open("rb") as handle:
            headers = _HEADERS.parse(handle)
        found[str(headers["Message-ID"]).strip()] += 1
    return found


def subjects(maildir: Path) -> Counter[str]:
    found: Counter[str] = Counter()
    for path in delivered(maildir):
        with path.open("rb") as handle:
            found[str(_HEADERS.parse(handle)["Subject"])] += 1
    return found


def senders_by_process(maildir: Path) -> Counter[int]:
    """Messages per writing process (Maildir names carry ``P<pid>``)."""
    found: Counter[int] = Counter()
    for path in delivered(maildir):
        part = path.name.split(".")[1]  # M<micros>P<pid>Q<n>R<random>
        found[int(part.split("P", 1)[1].split("Q", 1)[0])] += 1
    return found


def copy_sqlite(template: Path, target: Path) -> str:
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"
