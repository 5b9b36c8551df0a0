"""``nurture simulate``: the real engine on a moved clock, in a scratch database, nothing sent."""

from __future__ import annotations

import json

from tests.harness import Harness

LEADS = (
    "email,first_name,country,timezone\n"
    "anna@alpenblick.de,Anna,DE,Europe/Berlin\n"
    "bob@example.com,Bob,US,America/New_York\n"
)


def simulate(cli, harness: Harness, csv_text: str, *extra: str):  # type: ignore[no-untyped-def]
    (harness.root / "sim.csv").write_text(csv_text, encoding="utf-8")
    args = ["--leads", str(harness.root / "sim.csv"), "--days", "20", "--start", "2026-03-02T07:00:00Z"]
    result = cli("simulate", *args, "--json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_simulate_shows_who_gets_what_when_and_touches_nothing(harness: Harness, cli) -> None:  # type: ignore[no-untyped-def]
    outcome = simulate(cli, harness, LEADS, "--no-engagement")
    sends = [(s["email"], s["step"], s["at"]) for s in outcome["sends"]]
    assert sends[0] == ("anna@alpenblick.de", "welcome", "2026-03-02T08:00:00+00:00")
    assert [s[1] for s in sends] == ["welcome", "reminder", "case-study", "last-call"]
    assert outcome["entered"] == {"trial": 1}
    assert not (harness.root / "outbox").exists()
    with harness.store.connect() as conn:  # the workspace database was not used
        assert conn.exec_driver_sql("SELECT count(*) FROM leads").scalar() == 0


def test_simulated_opens_steer_the_branches(harness: Harness, cli) -> None:  # type: ignore[no-untyped-def]
    rows = "".join(f"l{i}@firma{i}.de,L{i},DE,Europe/Berlin\n" for i in range(40))
    outcome = simulate(cli, harness, "email,first_name,country,timezone\n" + rows, "--open-rate", "0.5")
    steps = [s["step"] for s in outcome["sends"]]
    assert steps.count("welcome") == 40
    assert 0 < steps.count("reminder") < 40  # openers skipped the reminder
    assert outcome["engagement"]["email_open"] > 0


WEBINAR = """\
kind: Campaign
key: webinar
entry: {on: event, type: webinar_registered}
steps:
  - id: access
    send: {template: t/welcome, subject: "Ihr Zugang zum Webinar"}
---
kind: Campaign
key: hot-leads
entry: {on: segment, where: "lead.score >= 50"}
steps:
  - id: demo
    send: {template: t/welcome, subject: "Ihre Demo"}
---
kind: ScoringModel
name: default
behavior:
  - {event: demo_requested, points: 100}
"""


def test_planned_events_drive_event_entries_mqls_handoffs_and_breaches(harness: Harness, cli) -> None:  # type: ignore[no-untyped-def]
    from tests.program import write_program

    write_program(harness.root, extra=WEBINAR)
    (harness.root / "events.jsonl").write_text(
        '{"type": "webinar_registered", "email": "anna@alpenblick.de", "occurred_at": "+1d"}\n'
        '{"type": "demo_requested", "email": "anna@alpenblick.de", "occurred_at": "2026-03-04T10:00:00Z"}\n',
        encoding="utf-8",
    )
    outcome = simulate(cli, harness, LEADS, "--no-engagement", "--events", str(harness.root / "events.jsonl"))
    webinar = [s for s in outcome["sends"] if s["campaign"] == "webinar"]
    assert [(s["email"], s["step"]) for s in webinar] == [("anna@alpenblick.de", "access")]
    assert webinar[0]["at"] >= "2026-03-03T07:00:00+00:00"
    assert outcome["entered"]["webinar"] == 1
    assert outcome["entered"]["hot-leads"] == 1  # the segment, once the demo request scored
    [demo] = [s for s in outcome["sends"] if s["campaign"] == "hot-leads"]
    assert demo["at"] >= "2026-03-04T10:00:00+00:00"
    assert outcome["mqls"] == 1 and outcome["handoffs"] >= 2 and outcome["breaches"] >= 1
    kinds = [(m["what"], m["detail"]) for m in outcome["timeline"]]
    assert ("event", "webinar_registered") in kinds
    assert any(what == "stage" and "→ mql" in detail for what, detail in kinds)
    assert any(what == "handoff" and "after an SLA breach" in detail for what, detail in kinds)
    assert outcome["timeline"][0] == {
        "at": "2026-03-03T07:00:00+00:00", "email": "anna@alpenblick.de", "what": "event",
        "detail": "webinar_registered",
    }  # fmt: skip


def test_a_bad_events_file_names_the_line(harness: Harness, cli) -> None:  # type: ignore[no-untyped-def]
    (harness.root / "events.jsonl").write_text(
        '{"type": "page_view", "email": "a@b.de", "occurred_at": "+2x"}\n', encoding="utf-8"
    )
    result = cli("simulate", "--sample-leads", "3", "--events", str(harness.root / "events.jsonl"))
    assert result.exit_code == 1
    assert "events.jsonl: line 1: occurred_at: '2x' is not a duration" in result.output


def test_sample_leads_need_no_leads_file(harness: Harness, cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("simulate", "--sample-leads", "20", "--days", "3", "--start", "2026-03-02T07:00:00Z")
    assert result.exit_code == 0, result.output
    assert "for 20 leads" in result.output
    assert "trial/welcome" in result.output  # the generated leads are mostly in DACH
    assert "MQLs 0, handoffs 0, SLA breaches 0" in result.output
