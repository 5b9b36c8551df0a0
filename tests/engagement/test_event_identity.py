"""Every event has an identity: a file read twice records nothing the second time, and the API
needs an id per event or an Idempotency-Key per request, so a retry is never recorded twice."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.engagement.conftest import INGEST_KEY, Live, Mailroom
from tests.sales.desk import write_workspace

BEARER = {"authorization": f"Bearer {INGEST_KEY.decode()}"}
ENV = {"NURTURE_NOW": "2026-03-02T09:00:00Z"}
UNNUMBERED = [
    {"type": "download", "email": "lena@alpenblick.de", "occurred_at": "2026-03-01T10:00:00Z",
     "asset_type": "whitepaper"},
    {"type": "page_view", "email": "lena@alpenblick.de", "url": "https://taktwerk.example/pricing"},
    {"type": "page_view", "email": "someone@new.example", "occurred_at": "2026-03-01T11:00:00+01:00"},
]  # fmt: skip


@pytest.fixture
def program_workspace(workspace: Path) -> Path:
    write_workspace(workspace)
    return workspace


def test_a_file_imported_again_records_nothing_and_says_so(
    cli: Any, program_workspace: Path, mailroom: Mailroom
) -> None:
    mailroom.lead("lena@alpenblick.de")
    path = program_workspace / "events.jsonl"
    path.write_text("".join(json.dumps(item) + "\n" for item in UNNUMBERED), encoding="utf-8")
    first = cli("events", "import", str(path), env=ENV)
    assert first.exit_code == 0, first.output
    assert "3 stored" in first.output and "0 already recorded" in first.output
    # Later, with the clock moved on: the line without a time is still the same event.
    again = cli("events", "import", str(path), "--json", env={"NURTURE_NOW": "2026-03-05T09:00:00Z"})
    assert again.exit_code == 0, again.output
    report = json.loads(again.output)
    assert (report["stored"], report["already_recorded"], report["rejected"]) == (0, 3, 0)
    assert len(mailroom.events()) == 3


def test_lines_saying_something_else_are_other_events(
    cli: Any, program_workspace: Path, mailroom: Mailroom
) -> None:
    mailroom.lead("lena@alpenblick.de")
    path = program_workspace / "events.jsonl"
    path.write_text(json.dumps(UNNUMBERED[0]) + "\n", encoding="utf-8")
    cli("events", "import", str(path), env=ENV)
    variants = [
        {**UNNUMBERED[0], "occurred_at": "2026-03-01T10:00:01Z"},
        {**UNNUMBERED[0], "asset_type": "case-study"},
        {**UNNUMBERED[0], "type": "webinar_attended"},
        # The same event, its properties in another order and the address in capitals.
        {"asset_type": "whitepaper", **UNNUMBERED[0], "email": "Lena@Alpenblick.DE"},
    ]
    path.write_text("".join(json.dumps(item) + "\n" for item in variants), encoding="utf-8")
    result = cli("events", "import", str(path), "--json", env=ENV)
    report = json.loads(result.output)
    assert (report["stored"], report["already_recorded"]) == (3, 1)


def test_the_api_needs_an_id_or_an_idempotency_key(live: Live, mailroom: Mailroom) -> None:
    mailroom.lead("lena@alpenblick.de")
    items = [
        {"type": "page_view", "email": "lena@alpenblick.de", "id": "pv-1"},
        {"type": "page_view", "email": "lena@alpenblick.de"},
    ]
    unkeyed = live.client.post("/api/events", json=items, headers=BEARER).json()
    assert (unkeyed["stored"], unkeyed["rejected"]) == (1, 1)
    (error,) = unkeyed["errors"]
    assert (error["index"], error["field"]) == (1, "id")
    assert "Idempotency-Key" in error["error"]
    keyed = live.client.post("/api/events", json=items, headers={**BEARER, "idempotency-key": "r-1"}).json()
    assert (keyed["stored"], keyed["duplicates"], keyed["rejected"]) == (1, 1, 0)
    assert len(mailroom.events()) == 2


def _at_once(live: Live, count: int, body: Any, headers: dict[str, str]) -> list[httpx.Response]:
    """``count`` identical requests released together, each on its own connection."""
    gate = threading.Barrier(count)
    answers: list[httpx.Response] = []

    def send() -> None:
        with httpx.Client(base_url=live.url, timeout=30) as client:
            gate.wait()
            answers.append(client.post("/api/events", json=body, headers=headers))

    threads = [threading.Thread(target=send) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_requests_sent_twice_at_once_are_recorded_once(live: Live, mailroom: Mailroom) -> None:
    mailroom.lead("lena@alpenblick.de")
    batch = [{"type": "page_view", "email": "lena@alpenblick.de", "url": f"https://x.example/{n}"}
             for n in range(50)]  # fmt: skip
    answers = _at_once(live, 2, batch, {**BEARER, "idempotency-key": "together-1"})
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].json() == answers[1].json()
    assert sorted(a.headers.get("idempotent-replayed", "no") for a in answers) == ["no", "true"]
    assert len(mailroom.events()) == 50

    numbered = [{**item, "id": f"e-{n}"} for n, item in enumerate(batch)]
    answers = _at_once(live, 2, numbered, BEARER)
    stored = sorted(a.json()["stored"] for a in answers)
    assert stored == [0, 50] and sorted(a.json()["duplicates"] for a in answers) == [0, 50]
    assert len(mailroom.events()) == 100
