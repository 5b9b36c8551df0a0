"""``nurture events import`` and ``nurture serve`` as an operator runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from tests.engagement.conftest import Mailroom
from tests.ports import free_port
from tests.sales.desk import write_workspace

LINES = [
    json.dumps({"type": "download", "email": "lena@alpenblick.de", "occurred_at": "2026-03-01T10:00:00Z",
                "asset_type": "whitepaper", "id": "dl-1"}),
    "",
    "{not json",
    json.dumps({"type": "page_view", "email": "someone@new.example", "url": "https://x.example/pricing"}),
    json.dumps({"type": "page view", "email": "lena@alpenblick.de"}),
    json.dumps({"type": "webinar_attended", "email": "lena@alpenblick.de",
                "occurred_at": "2031-01-01T00:00:00Z"}),
]  # fmt: skip


@pytest.fixture
def program_workspace(workspace: Path) -> Path:
    write_workspace(workspace)
    return workspace


def test_events_import_stores_good_lines_and_reports_bad_ones_by_number(
    cli: Any, program_workspace: Path, mailroom: Mailroom
) -> None:
    mailroom.lead("lena@alpenblick.de")
    path = program_workspace / "events.jsonl"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    env = {"NURTURE_NOW": "2026-03-02T09:00:00Z"}
    result = cli("events", "import", str(path), env=env)
    assert result.exit_code == 1, result.output
    assert f"{path}: line 3: not valid JSON" in result.output
    assert f"{path}: line 5: type: 'page view' is not an event type" in result.output
    assert (
        f"{path}: line 6: occurred_at: '2031-01-01T00:00:00Z' is more than a day in the future"
        in result.output
    )
    assert (
        "imported events.jsonl: 5 events, 2 stored (1 for addresses not yet leads, 0 machine-made), "
        "0 already recorded, 3 rejected"
    ) in result.output
    assert len(mailroom.events()) == 2

    surrogate = '{"type": "page_view", "email": "lena@alpenblick.de", "properties": {"q": "\\udc00"}}'
    path.write_text(surrogate + "\n", encoding="utf-8")
    lone = cli("events", "import", str(path), env=env)
    assert f"{path}: line 1: text with an unpaired UTF-16 surrogate" in lone.output, lone.output
    assert len(mailroom.events()) == 2

    path.write_text(LINES[0] + "\n", encoding="utf-8")
    again = cli("events", "import", str(path), env=env)
    assert again.exit_code == 0, again.output
    assert "0 stored" in again.output and "1 already recorded" in again.output


def test_events_import_can_refuse_unknown_addresses(cli: Any, program_workspace: Path) -> None:
    path = program_workspace / "events.jsonl"
    path.write_text(LINES[3] + "\n", encoding="utf-8")
    result = cli("events", "import", str(path), "--unknown-leads", "refuse")
    assert result.exit_code == 1
    assert "line 1: email: no lead someone@new.example" in result.output


def test_serve_answers_and_stops_gracefully_on_sigterm(program_workspace: Path, store: Engine) -> None:
    port = free_port()
    env = {**os.environ, "NURTURE_WORKSPACE": str(program_workspace)}
    process = subprocess.Popen(
        [sys.executable, "-m", "nurture", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60  # readiness on a busy machine, not a speed limit
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()  # before reading: a live server's output never ends
                    output, _ = process.communicate()
                    raise AssertionError(f"nurture serve did not answer /healthz: {output}") from None
                time.sleep(0.05)
        assert health.status_code == 200
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output
    assert "stopped" in output
    assert "secret" not in output.lower()


def test_events_import_reports_conflicting_ids_and_deep_lines_and_exits_1(
    cli: Any, program_workspace: Path, mailroom: Mailroom
) -> None:
    mailroom.lead("lena@alpenblick.de")
    first = {"type": "download", "email": "lena@alpenblick.de", "id": "dl-7", "asset_type": "whitepaper"}
    path = program_workspace / "events.jsonl"
    path.write_text(json.dumps(first) + "\n", encoding="utf-8")
    env = {"NURTURE_NOW": "2026-03-02T09:00:00Z"}
    assert cli("events", "import", str(path), env=env).exit_code == 0
    lines = [
        json.dumps(first),  # the same event again: fine
        json.dumps({**first, "asset_type": "case-study"}),  # another event under its id
        '{"type": "page_view", "email": "lena@alpenblick.de", "id": 1e400}',
        '{"type": "page_view", "email": "lena@alpenblick.de", "p": ' + "[" * 50_000 + "]" * 50_000 + "}",
        '{"type": "page_view", "email": "lena@alpenblick.de", "p": ' + "[" * 40 + "]" * 40 + "}",
        json.dumps({"type": "page_view", "email": "lena@alpenblick.de", "p": {"a": {"b": [1, 2]}}}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = cli("events", "import", str(path), env=env)
    assert result.exit_code == 1, result.output
    assert (
        f"{path}: line 2: id: 'dl-7' was recorded before for a different event (properties differ)"
        in result.output
    )
    assert f"{path}: line 3: id: is a number too large to keep exactly; send it as a string" in result.output
    assert f"{path}: line 4: JSON nested deeper than 32 levels of objects and lists" in result.output
    assert f"{path}: line 5: JSON nested deeper than 32 levels" in result.output
    assert "6 events, 1 stored (0 for addresses not yet leads, 0 machine-made), 1 already recorded, " \
        "4 rejected" in result.output
