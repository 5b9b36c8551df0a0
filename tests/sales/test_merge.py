"""``nurture leads merge KEEP OTHER``: two records of one person become one, with everything
stored about both, one enrollment per campaign, a score over both histories, and an audit line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from nurture.leads.consent import record_consent
from nurture.store.schema import audit_log, enrollments, events, leads
from tests.sales.desk import MONDAY, SLA, Desk, write_workspace

ENV = {"NURTURE_NOW": MONDAY.isoformat()}
OLD, NEW = "lena@alpenblick.de", "lena.wolf@alpenblick.de"


@pytest.fixture
def desk(workspace: Path, store: Engine) -> Desk:
    # Neither record alone is an MQL (10 and 15 points); the person is (25).
    write_workspace(workspace, sla=SLA.replace("lead.score >= 100", "lead.score >= 20"))
    desk = Desk(workspace, store)
    desk.import_leads(
        f"email,first_name,last_name,country,company\n{OLD},Lena,Wolf,DE,Alpenblick GmbH\n{NEW},Lena,,DE,\n"
    )
    desk.record(OLD, "page_view", MONDAY, url="https://taktwerk.example/pricing")
    desk.record(NEW, "download", MONDAY, asset_type="whitepaper")
    with store.begin() as conn:
        for email in (OLD, NEW):
            conn.execute(
                enrollments.insert().values(
                    lead_id=desk.lead_id(email, conn), campaign_key="newsletter", campaign_version="v1",
                    status="active", step_id="issue", entered_at=MONDAY, due_at=MONDAY,
                )
            )  # fmt: skip
        record_consent(conn, desk.lead_id(OLD, conn), "newsletter", "confirmed", MONDAY, source="fair")
    return desk


def count(store: Engine, table: Any, **where: Any) -> int:
    with store.connect() as conn:
        query = select(func.count()).select_from(table)
        for column, value in where.items():
            query = query.where(table.c[column] == value)
        return int(conn.scalar(query) or 0)


def test_a_dry_run_shows_what_would_move_and_changes_nothing(cli: Any, desk: Desk, store: Engine) -> None:
    result = cli("leads", "merge", NEW, OLD, "--dry-run", "--json", env=ENV)
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["moves"]["events"] == 1 and plan["moves"]["consents"] == 1
    assert plan["enrollments_ended"] == ["newsletter"] and plan["fields_taken"] == ["last_name", "company"]
    assert count(store, leads) == 2 and count(store, audit_log) == 0


def test_the_other_record_joins_the_kept_one(cli: Any, desk: Desk, store: Engine) -> None:
    result = cli("leads", "merge", NEW, OLD, "--actor", "maria", env=ENV)
    assert result.exit_code == 0, result.output
    assert count(store, leads) == 1
    kept = desk.lead(NEW)
    assert (kept.last_name, kept.company) == ("Wolf", "Alpenblick GmbH")
    assert kept.attributes["previous_emails"] == [OLD]
    assert count(store, events, lead_id=kept.id) == 2
    # One active enrollment per campaign: the other record's second one ended, and moved along.
    statuses = sorted(e.status for e in desk_enrollments(store, kept.id))
    assert statuses == ["active", "exited"]
    # The score over both histories: 10 + 15 behaviour points, and the person is an MQL now.
    assert kept.score == pytest.approx(25.0)
    assert desk.stage(NEW) == "mql" and len(desk.handoffs(NEW)) == 1
    shown = json.loads(cli("leads", "show", NEW, "--json", env=ENV).stdout)
    assert [c["source"] for c in shown["consent_history"]] == ["fair"]
    with store.connect() as conn:
        (line,) = conn.execute(select(audit_log)).all()
    assert (line.actor, line.action, line.subject) == ("maria", "merge", f"lead:{kept.id}")
    assert OLD not in json.dumps(line.detail)


def test_merging_a_lead_into_itself_or_an_unknown_address_is_refused(cli: Any, desk: Desk) -> None:
    same = cli("leads", "merge", NEW, NEW.upper(), env=ENV)
    assert same.exit_code == 1 and "are the same lead" in same.output
    unknown = cli("leads", "merge", NEW, "nobody@firma.de", env=ENV)
    assert unknown.exit_code == 1 and "no lead" in unknown.output


def desk_enrollments(store: Engine, lead_id: int) -> list[Any]:
    with store.connect() as conn:
        return list(conn.execute(select(enrollments).where(enrollments.c.lead_id == lead_id)).all())
