"""Experiments judged in `nurture report`, planned by `experiments plan`, ended by `experiments
promote`: through the engine on SQLite and PostgreSQL, with hand-made clicks and stage changes whose
answer is known."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner
from sqlalchemy import select, update

from nurture.cli import main
from nurture.store.schema import audit_log, enrollments, events, messages, stage_changes
from tests.harness import Harness
from tests.program import TRIAL, write_program

MONDAY = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
WELCOME = '    send: {template: t/welcome, subject: "Willkommen, {{ lead.first_name }}!"}\n'
EXPERIMENT = """\
    send:
      template: t/welcome
      subject: "Willkommen, {{ lead.first_name }}!"
      variants:
        - {id: a}
        - {id: b, subject: "{{ lead.first_name }}, Ihr Testzugang ist bereit"}
      decide_on: {metric: clicked, within: 1d, min_effect: 50%, baseline: 10%}
"""
HOLDOUT = "holdout: {share: 25%, metric: sql, within: 7d, min_effect: 50%, baseline: 10%}\n"


def leads_csv(count: int, first: int = 0) -> str:
    rows = [f"lead{n}@firma{n}.de,Lead{n},DE,Europe/Berlin" for n in range(first, first + count)]
    return "email,first_name,country,timezone\n" + "\n".join(rows) + "\n"


def cli(h: Harness, now: datetime, *args: str) -> str:
    env = {
        "NURTURE_DATABASE_URL": h.store.url.render_as_string(hide_password=False),
        "NURTURE_NOW": now.isoformat(),
    }
    result = CliRunner().invoke(main, ["--workspace", str(h.root), *args], env=env)
    assert result.exit_code == 0, result.output
    return result.output


def send_and_engage(h: Harness) -> None:
    """Every queued email is sent; a person clicks every b, only a link scanner clicks every a;
    every mailed lead becomes an SQL the next day, no held-out lead does."""
    with h.store.begin() as conn:
        conn.execute(update(messages).values(status="sent", sent_at=MONDAY))
        rows = conn.execute(select(messages.c.id, messages.c.lead_id, messages.c.variant)).all()
        for row in rows:
            at = MONDAY + timedelta(hours=2)
            conn.execute(
                events.insert().values(
                    lead_id=row.lead_id, type="email_click", occurred_at=at, received_at=at,
                    message_id=row.id, campaign_key="trial", step_id="welcome", url="https://x.example/",
                    machine_reason=None if row.variant == "b" else "link scanner", properties={},
                )
            )  # fmt: skip
            conn.execute(
                stage_changes.insert().values(
                    lead_id=row.lead_id, from_stage="lead", to_stage="sql", at=MONDAY + timedelta(days=1),
                    reason="test", actor="test",
                )
            )  # fmt: skip


def test_the_report_judges_variants_and_the_holdout_and_a_promotion_keeps_the_history(
    harness: Harness,
) -> None:
    h = harness
    write_program(h.root, TRIAL.replace(WELCOME, EXPERIMENT).replace("steps:\n", HOLDOUT + "steps:\n", 1))
    h.import_leads(leads_csv(80), MONDAY)
    h.tick(MONDAY)
    send_and_engage(h)
    with h.store.connect() as conn:
        held = conn.scalar(select(enrollments.c.id).where(enrollments.c.status == "holdout").limit(1))
    assert held is not None

    later = MONDAY + timedelta(days=8)
    data = json.loads(cli(h, later, "report", "--json"))
    variants, holdout = data["experiments"]
    assert variants["kind"] == "variants" and (variants["campaign"], variants["step"]) == ("trial", "welcome")
    assert variants["verdict"] == "winner" and variants["winner"] == "b" and variants["promoted"] is None
    a, b = variants["variants"]
    assert a["control"] and a["outcomes"] == 0 and a["rate"] == 0  # machine clicks never count
    assert b["outcomes"] == b["sample"] == b["planned"] == 14 and b["rate"] == 1
    assert a["sends"] >= 14 and b["difference"] == 1.0 and b["difference_interval"][0] > 0
    assert b["rate_interval"][1] == 1.0 and 0.7 < b["rate_interval"][0] < 0.8  # Wilson, 14 of 14

    assert holdout["kind"] == "holdout" and holdout["verdict"] == "winner"
    treated, held_out = holdout["groups"]
    assert treated["group"] == "treated" and held_out["group"] == "held_out"
    assert treated["outcomes"]["sql"]["rate"] == 1 and held_out["outcomes"]["sql"]["rate"] == 0
    assert treated["campaign_sends_per_lead"] == 1 and held_out["campaign_sends_per_lead"] == 0
    assert held_out["other_mail_per_lead"] == 0
    assert holdout["lift"]["sql"]["better"] == "treated" and holdout["lift"]["sql"]["difference"] == 1.0

    text = cli(h, later, "report")
    assert "trial/welcome: clicked within 1 days; winner: variant b" in text
    assert "holdout 25 %, sql within 7 days; the campaign lifts sql" in text

    page = h.root / "report.html"
    cli(h, later, "report", "--html", str(page))
    html = page.read_text(encoding="utf-8")
    assert '<h2 id="experiments">' in html and "winner: variant b" in html and "+100.0 pt" in html

    cli(h, later, "report", "--csv", str(h.root / "csv"))
    rows = (h.root / "csv" / "experiments.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0].startswith("kind,campaign,step,metric,verdict,winner,group,stage,leads")
    assert len(rows) == 1 + 2 + 2 * 3  # two variants; two holdout groups by mql, sql, customer

    plans = json.loads(cli(h, later, "experiments", "plan", "--json"))
    assert {(p["kind"], p["finishes"]) for p in plans} == {("variants", True), ("holdout", True)}
    assert "the sample is complete" in cli(h, later, "experiments", "plan")

    assert "variant b is sent to everyone" in cli(h, later, "experiments", "promote", "trial", "welcome", "b")
    with h.store.connect() as conn:
        subject, detail = conn.execute(
            select(audit_log.c.subject, audit_log.c.detail).where(audit_log.c.action == "promote")
        ).one()
    assert (subject, detail) == ("trial/welcome", {"variant": "b", "before": None})
    h.import_leads(leads_csv(10, first=100), later)
    h.tick(later)
    with h.store.connect() as conn:
        new = conn.execute(
            select(messages.c.variant, messages.c.variant_source).where(
                messages.c.created_at == later, messages.c.step_id == "welcome"
            )
        ).all()
    assert new and set(new) == {("b", "winner")}
    after = json.loads(cli(h, later + timedelta(days=2), "report", "--json"))["experiments"][0]
    assert after["promoted"] == "b" and after["variants"] == variants["variants"]  # the history stays


def test_a_b2b_volume_is_told_it_will_never_finish(harness: Harness) -> None:
    h = harness
    slow = EXPERIMENT.replace(
        "metric: clicked, within: 1d, min_effect: 50%, baseline: 10%", "metric: sql, within: 30d"
    )
    write_program(h.root, TRIAL.replace(WELCOME, slow))
    h.import_leads(leads_csv(3), MONDAY)
    h.tick(MONDAY)
    shown = cli(h, MONDAY + timedelta(days=1), "experiments", "plan")
    assert "needs 1569 a, 1569 b judged leads" in shown and "it will never finish in practice" in shown
    checked = cli(h, MONDAY + timedelta(days=1), "check")
    assert "warning" in checked and "never finish" in checked
