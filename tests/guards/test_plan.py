"""Look before it goes live: a change that would enrol or send too much waits for `plan --apply`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from nurture.daemon.reload import LiveProgram
from nurture.guards import audit_entries
from nurture.store.schema import enrollments
from nurture.workspace import Workspace
from tests.harness import Harness
from tests.program import TRIAL

MONDAY = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
LEADS = 10_000

WIDENED = """\
kind: Campaign
key: us-launch
entry:
  on: segment
  where: "lead.country == 'US'"
steps:
  - id: hello
    send: {template: t/welcome, subject: "Hello"}
  - wait: 12h
  - id: follow-up
    send: {template: t/reminder, subject: "Still there?"}
  - wait: 2d
  - id: later
    send: {template: t/reminder, subject: "Later"}
"""


def _us_leads(count: int) -> str:
    rows = "".join(f"lead{i}@corp{i}.com,L{i},US,America/New_York\n" for i in range(count))
    return "email,first_name,country,timezone\n" + rows


def _enrolled(h: Harness, campaign: str) -> int:
    with h.store.connect() as conn:
        query = select(func.count()).where(enrollments.c.campaign_key == campaign)
        return int(conn.scalar(query) or 0)


def _plan(cli: Any, *args: str) -> dict[str, Any]:
    result = cli("plan", "--json", *args, env={"NURTURE_NOW": MONDAY.isoformat()})
    assert result.exit_code == 0, result.output
    body: dict[str, Any] = json.loads(result.output)
    return body


def test_an_edit_enrolling_10000_leads_is_held_until_plan_apply(harness: Harness, cli: Any) -> None:
    h = harness
    h.import_leads(_us_leads(LEADS), MONDAY)
    env = {"NURTURE_NOW": MONDAY.isoformat()}
    assert cli("tick", "--no-send", env=env).exit_code == 0  # the program as it is goes live
    assert _plan(cli)["campaigns"] == []

    (h.root / "campaigns" / "extra.yaml").write_text(WIDENED, encoding="utf-8")
    body = _plan(cli)
    (change,) = body["campaigns"]
    assert change["campaign"] == "us-launch" and change["change"] == "new"
    assert change["enrols"] == LEADS
    # Every lead gets hello now and follow-up after 12 h; `later` falls outside the 24 hours.
    assert change["sends_24h_by_step"] == {"hello": LEADS, "follow-up": LEADS}
    assert change["held"] and change["over_limits"]

    ticked = cli("tick", "--no-send", env=env)
    assert ticked.exit_code == 0, ticked.output
    assert "held us-launch: enrols 10000 leads (limit 1000)" in ticked.output
    assert _enrolled(h, "us-launch") == 0
    shown = json.loads(cli("campaigns", "--json", env=env).output)["campaigns"]
    assert {c["campaign"]: c["state"] for c in shown}["us-launch"] == "held"

    applied = cli("plan", "--apply", "--actor", "petra", env=env)
    assert applied.exit_code == 0 and "approved us-launch" in applied.output
    later = {"NURTURE_NOW": (MONDAY + timedelta(minutes=1)).isoformat()}
    assert cli("tick", "--no-send", env=later).exit_code == 0
    assert _enrolled(h, "us-launch") > 0
    with h.store.connect() as conn:
        actions = [(e.actor, e.action, e.subject) for e in audit_entries(conn)]
    assert ("petra", "approve", "campaign:us-launch") in actions
    assert sum(1 for _, a, s in actions if a == "hold" and s == "campaign:us-launch") == 1
    assert any(a == "deploy" and s == "campaign:us-launch" for _, a, s in actions)


def test_the_daemon_keeps_the_running_version_while_a_change_is_held(harness: Harness, cli: Any) -> None:
    h = harness
    h.import_leads(_us_leads(1500), MONDAY)
    live = LiveProgram.load(Workspace(h.root), h.store, MONDAY)
    assert live.refresh(MONDAY).recorded  # deployed

    (h.root / "campaigns" / "extra.yaml").write_text(WIDENED, encoding="utf-8")
    outcome = live.refresh(MONDAY + timedelta(seconds=10), force=True)
    assert outcome.held and "us-launch" not in live.current.engine.versions
    assert live.refresh(MONDAY + timedelta(seconds=20)).status == "unchanged"  # it waits

    assert cli("plan", "--apply", env={"NURTURE_NOW": MONDAY.isoformat()}).exit_code == 0
    outcome = live.refresh(MONDAY + timedelta(seconds=30))
    assert outcome.status == "applied" and not outcome.held
    assert "us-launch" in live.current.engine.versions


def test_a_small_edit_goes_live_at_once(harness: Harness, cli: Any) -> None:
    h = harness
    h.import_leads(_us_leads(20), MONDAY)
    env = {"NURTURE_NOW": MONDAY.isoformat()}
    assert cli("tick", "--no-send", env=env).exit_code == 0
    edited = TRIAL.replace("Fallstudie", "Case study")
    (h.root / "campaigns" / "trial.yaml").write_text(edited, encoding="utf-8")
    (change,) = _plan(cli)["campaigns"]
    assert change["campaign"] == "trial" and change["change"] == "edited"
    assert change["enrols"] == 0 and not change["held"]
    result = cli("plan", env=env)
    assert "trial: edited" in result.output and "goes live" in result.output
