"""``nurture leads merge KEEP OTHER``: two records of one person become one, with everything
stored about both, one enrollment per campaign, a score over both histories, and an audit line."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from nurture.leads.addresses import suppression_hash
from nurture.leads.combine import BEFORE_SALES, OPEN_HANDOFFS
from nurture.leads.consent import record_consent
from nurture.reports.experiment_rows import holdout_members, variant_sends
from nurture.sales.routing import OPEN_STATUSES
from nurture.scoring.state import MQL_ELIGIBLE
from nurture.store.schema import (
    audit_log,
    enrollments,
    events,
    leads,
    messages,
    suppressions,
    topic_suppressions,
)
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


def test_two_records_each_in_a_reps_hands_are_not_merged_until_one_is_resolved(
    cli: Any, desk: Desk, store: Engine
) -> None:
    desk.record(OLD, "demo_requested", MONDAY)
    desk.record(NEW, "demo_requested", MONDAY)
    assert len(desk.handoffs(OLD)) == 1 and len(desk.handoffs(NEW)) == 1
    refused = cli("leads", "merge", NEW, OLD, env=ENV)
    assert refused.exit_code == 1
    assert f"{NEW} and {OLD} both have an open handoff" in refused.output
    assert "resolve one first" in refused.output
    assert count(store, leads) == 2 and count(store, audit_log) == 0
    assert cli("leads", "merge", NEW, OLD, "--dry-run", env=ENV).exit_code == 1

    resolved = cli("sales", "disqualify", OLD, "--reason", "second record", env=ENV)
    assert resolved.exit_code == 0, resolved.output
    merged = cli("leads", "merge", NEW, OLD, env=ENV)
    assert merged.exit_code == 0, merged.output
    statuses = sorted(h.status for h in desk.handoffs(NEW))
    assert statuses == ["disqualified", "pending"]  # one rep holds the person


def test_the_other_records_only_open_handoff_moves_to_the_kept_one(cli: Any, desk: Desk) -> None:
    desk.record(OLD, "demo_requested", MONDAY)
    (handoff,) = desk.handoffs(OLD)
    assert desk.stage(NEW) == "lead" and desk.stage(OLD) == "mql"
    merged = cli("leads", "merge", NEW, OLD, env=ENV)
    assert merged.exit_code == 0, merged.output
    assert "took from lena@alpenblick.de: last_name, company, lifecycle_stage" in merged.output
    # The handoff moved and the kept record is at its stage: the MQL rule routes nobody again.
    assert [(h.id, h.status) for h in desk.handoffs(NEW)] == [(handoff.id, "pending")]
    assert desk.stage(NEW) == "mql"


def test_the_merge_knows_the_sales_desks_open_statuses_and_the_mql_rules_stages() -> None:
    assert OPEN_HANDOFFS == OPEN_STATUSES and set(BEFORE_SALES) == MQL_ELIGIBLE


def _suppress(conn: Any, email: str, reason: str, topic: str | None = None) -> None:
    table = suppressions if topic is None else topic_suppressions
    values = {"topic": topic} if topic is not None else {}
    conn.execute(
        table.insert().values(
            email_hash=suppression_hash(email), reason=reason, detail="one_click", created_at=MONDAY, **values
        )
    )


def _suppressed(store: Engine, email: str) -> tuple[str | None, set[str]]:
    digest = suppression_hash(email)
    with store.connect() as conn:
        reason = conn.scalar(select(suppressions.c.reason).where(suppressions.c.email_hash == digest))
        t = topic_suppressions.c
        return reason, set(conn.scalars(select(t.topic).where(t.email_hash == digest)))


def test_the_other_records_opt_outs_follow_the_person_to_the_kept_address(
    cli: Any, desk: Desk, store: Engine
) -> None:
    with store.begin() as conn:
        _suppress(conn, OLD, "unsubscribe", topic="newsletter")
        _suppress(conn, NEW, "unsubscribe", topic="webinars")
        _suppress(conn, NEW, "unsubscribe")
        _suppress(conn, OLD, "complaint")  # stops more than KEEP's unsubscribe: it wins
    merged = cli("leads", "merge", NEW, OLD, env=ENV)
    assert merged.exit_code == 0, merged.output
    assert _suppressed(store, NEW) == ("complaint", {"newsletter", "webinars"})
    assert _suppressed(store, OLD) == ("complaint", {"newsletter"})  # the old address stays unmailable
    with store.connect() as conn:
        detail = conn.scalar(
            select(suppressions.c.detail).where(suppressions.c.email_hash == suppression_hash(NEW))
        )
    assert detail == "merged record: one_click"


def test_a_bounce_of_the_old_address_does_not_stop_mail_to_the_new_one(
    cli: Any, desk: Desk, store: Engine
) -> None:
    with store.begin() as conn:
        _suppress(conn, OLD, "hard_bounce")
    assert cli("leads", "merge", NEW, OLD, env=ENV).exit_code == 0
    assert _suppressed(store, NEW) == (None, set())
    assert _suppressed(store, OLD) == ("hard_bounce", set())


def _entry(conn: Any, email: str, desk: Desk, status: str, entered: datetime) -> int:
    values = {
        "lead_id": desk.lead_id(email, conn), "campaign_key": "trial", "campaign_version": "v1",
        "status": status, "entered_at": entered, "ended_at": None if status == "holdout" else entered,
    }  # fmt: skip
    return int(conn.execute(enrollments.insert().values(**values)).inserted_primary_key[0])


def _split_email(conn: Any, email: str, desk: Desk, enrollment_id: int, variant: str) -> None:
    values = {
        "lead_id": desk.lead_id(email, conn), "enrollment_id": enrollment_id, "campaign_key": "trial",
        "step_id": "welcome", "kind": "marketing", "to_address": email, "status": "sent", "attempts": 1,
        "message_id": f"<{variant}.{enrollment_id}@t.example>", "created_at": MONDAY, "sent_at": MONDAY,
        "variant": variant, "variant_source": "split",
    }  # fmt: skip
    conn.execute(messages.insert().values(**values))


def _groups(store: Engine) -> tuple[list[tuple[int, bool]], list[tuple[int, str]]]:
    now = MONDAY + timedelta(days=1)
    with store.connect() as conn:
        held = [(h.lead_id, h.held_out) for h in holdout_members(conn, [("trial", timedelta(days=14))], now)]
        sends = [(s.lead_id, s.variant) for s in variant_sends(conn, now)]
    return held, sends


def test_a_merged_person_counts_once_in_a_holdout_and_a_split(cli: Any, desk: Desk, store: Engine) -> None:
    with store.begin() as conn:
        # The old record was held out first; the new one entered later and got variant B.
        _entry(conn, OLD, desk, "holdout", MONDAY - timedelta(days=3))
        old_entry = _entry(conn, OLD, desk, "exited", MONDAY - timedelta(days=2))
        _split_email(conn, OLD, desk, old_entry, "A")
        new_entry = _entry(conn, NEW, desk, "completed", MONDAY - timedelta(days=1))
        _split_email(conn, NEW, desk, new_entry, "B")
    assert cli("leads", "merge", NEW, OLD, env=ENV).exit_code == 0
    kept = desk.lead_id(NEW)
    held, sends = _groups(store)
    assert held == [(kept, False)]  # mailed by the campaign (both records were): not held out
    assert sends == [(kept, "B")]  # the kept record's own variant; the other's is not counted
    with store.connect() as conn:
        m = messages.c
        sources = set(conn.scalars(select(m.variant_source).where(m.campaign_key == "trial")))
    assert sources == {"split", "merged"}  # both emails stay in the record's history


def test_the_kept_records_holdout_stays_when_the_other_was_held_out_too(
    cli: Any, desk: Desk, store: Engine
) -> None:
    with store.begin() as conn:
        _entry(conn, OLD, desk, "holdout", MONDAY - timedelta(days=3))
        _entry(conn, NEW, desk, "holdout", MONDAY - timedelta(days=1))
    assert cli("leads", "merge", NEW, OLD, env=ENV).exit_code == 0
    held, _ = _groups(store)
    assert held == [(desk.lead_id(NEW), True)] and count(store, enrollments, status="holdout") == 1
    with store.connect() as conn:
        entered = conn.scalar(select(enrollments.c.entered_at).where(enrollments.c.status == "holdout"))
    assert entered == MONDAY - timedelta(days=1)
