"""Variants and holdouts through the engine and the outbox (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner
from sqlalchemy import select, update

from nurture.cli import main
from nurture.delivery.transports import MemoryTransport
from nurture.sending.factory import build_outbox
from nurture.store.schema import enrollments, events, leads, messages
from nurture.workspace import Workspace
from tests.harness import Harness
from tests.program import TRIAL, write_program

MONDAY = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)  # 09:30 in Berlin
WELCOME = '    send: {template: t/welcome, subject: "Willkommen, {{ lead.first_name }}!"}\n'
VARIANTS = """\
    send:
      template: t/welcome
      subject: "Willkommen, {{ lead.first_name }}!"
      variants:
        - {id: a, weight: WEIGHT_A}
        - {id: b, subject: "{{ lead.first_name }}, Ihr Testzugang ist bereit"}
      decide_on: {metric: clicked, within: 3d}
"""
SUBJECTS = {"a": "Willkommen, Lead{n}!", "b": "Lead{n}, Ihr Testzugang ist bereit"}


def leads_csv(count: int) -> str:
    rows = [f"lead{n}@firma{n}.de,Lead{n},DE,Europe/Berlin" for n in range(count)]
    return "email,first_name,country,timezone\n" + "\n".join(rows) + "\n"


def with_variants(h: Harness, weight_a: float = 1, extra: str = "") -> None:
    trial = TRIAL.replace(WELCOME, VARIANTS.replace("WEIGHT_A", str(weight_a)))
    write_program(h.root, trial.replace("steps:\n", extra + "steps:\n", 1))


def deliver(h: Harness, now: datetime, transport: MemoryTransport) -> None:
    outbox = build_outbox(h.store, h.engine().program, Workspace(h.root), transport)

    async def run() -> None:
        await outbox.deliver_due(now)

    asyncio.run(run())


def subjects(transport: MemoryTransport) -> dict[str, str]:
    found = {}
    for message in transport.sent:
        parsed = email.message_from_bytes(message.data, policy=email.policy.default)
        found[str(parsed["To"]).split("<")[-1].rstrip(">")] = str(parsed["Subject"])
    return found


def stored_variants(h: Harness) -> dict[str, tuple[str, str]]:
    with h.store.connect() as conn:
        rows = conn.execute(
            select(messages.c.to_address, messages.c.variant, messages.c.variant_source).where(
                messages.c.step_id == "welcome"
            )
        ).all()
    return {r.to_address: (r.variant, r.variant_source) for r in rows}


def test_each_lead_keeps_its_variant_through_a_crash_between_choosing_and_sending(harness: Harness) -> None:
    h = harness
    with_variants(h)
    h.import_leads(leads_csv(30), MONDAY)
    h.tick(MONDAY)
    chosen = stored_variants(h)
    assert len(chosen) == 30 and {v for v, _ in chosen.values()} == {"a", "b"}
    assert {source for _, source in chosen.values()} == {"split"}
    program = h.engine().program
    send = program.campaign("trial").step("welcome").send  # type: ignore[union-attr]
    with h.store.connect() as conn:
        ids = dict(conn.execute(select(leads.c.email, leads.c.id)).all())
    assert all(chosen[e][0] == send.chosen_variant("trial", "welcome", ids[e]) for e in chosen)

    # A sender claims the batch and dies before sending; meanwhile the weights change so that the
    # split would now give almost everyone variant b.
    outbox = build_outbox(h.store, program, Workspace(h.root), MemoryTransport())
    assert len(outbox.claim(MONDAY, "dead-sender")) == 30
    with h.store.begin() as conn:
        conn.execute(update(messages).values(claimed_until=MONDAY - timedelta(minutes=1)))
    outbox.recover()
    with_variants(h, weight_a=0.000001)
    h.tick(MONDAY + timedelta(minutes=5))  # a re-run of the engine queues nothing new
    assert stored_variants(h) == chosen
    transport = MemoryTransport()
    deliver(h, MONDAY + timedelta(minutes=5), transport)
    got = subjects(transport)
    assert len(got) == 30
    for address, (variant, _) in chosen.items():
        n = address.removeprefix("lead").split("@")[0]
        assert got[address] == SUBJECTS[variant].format(n=n)


def test_a_winner_goes_to_everyone_queued_from_then_on(harness: Harness) -> None:
    h = harness
    with_variants(h)
    h.import_leads(leads_csv(6), MONDAY)
    h.tick(MONDAY)
    before = stored_variants(h)
    trial = TRIAL.replace(WELCOME, VARIANTS.replace("WEIGHT_A", "1") + "      winner: b\n")
    write_program(h.root, trial)
    h.import_leads(leads_csv(12), MONDAY + timedelta(hours=1))
    h.tick(MONDAY + timedelta(hours=1))
    after = stored_variants(h)
    assert {a: after[a] for a in before} == before  # what was chosen stays
    assert {after[a] for a in after if a not in before} == {("b", "winner")}


def test_opened_names_the_step_whatever_the_variant(harness: Harness) -> None:
    h = harness
    with_variants(h)
    h.import_leads(leads_csv(8), MONDAY)
    h.tick(MONDAY)
    with h.store.begin() as conn:
        for row in conn.execute(select(messages.c.id, messages.c.lead_id, messages.c.variant)).all():
            conn.execute(
                messages.update().where(messages.c.id == row.id).values(status="sent", sent_at=MONDAY)
            )
            conn.execute(
                events.insert().values(
                    lead_id=row.lead_id, type="email_open", occurred_at=MONDAY + timedelta(hours=1),
                    received_at=MONDAY + timedelta(hours=1), message_id=row.id, campaign_key="trial",
                    step_id="welcome", properties={},
                )
            )  # fmt: skip
    h.tick(MONDAY + timedelta(days=2))
    steps = {m.step_id for m in h.messages()}
    assert "case-study" in steps and "reminder" not in steps  # every variant's opener branched


def test_a_holdout_is_enrolled_sent_nothing_and_shown_as_holdout(harness: Harness) -> None:
    h = harness
    with_variants(h, extra="holdout: 25%\n")
    h.import_leads(leads_csv(40), MONDAY)
    report = h.tick(MONDAY)
    assert report.entered == {"trial": 40}
    with h.store.connect() as conn:
        rows = conn.execute(select(enrollments.c.lead_id, enrollments.c.status)).all()
        ids = dict(conn.execute(select(leads.c.id, leads.c.email)).all())
    held = {ids[r.lead_id] for r in rows if r.status == "holdout"}
    program = h.engine().program
    campaign = program.campaign("trial")
    assert held == {ids[r.lead_id] for r in rows if campaign.holds_out(r.lead_id)}
    assert 0 < len(held) < 40
    mailed = {m.to_address for m in h.messages()}
    assert mailed.isdisjoint(held) and len(mailed) == 40 - len(held)
    h.tick(MONDAY + timedelta(days=3))
    assert {m.to_address for m in h.messages()}.isdisjoint(held)
    h.import_leads(leads_csv(40), MONDAY + timedelta(days=3))  # already in: nobody enters twice
    with h.store.connect() as conn:
        assert len(conn.execute(select(enrollments.c.id)).all()) == 40

    someone = sorted(held)[0]
    result = CliRunner().invoke(
        main, ["--workspace", str(h.root), "leads", "show", someone, "--json"],
        env={"NURTURE_DATABASE_URL": str(h.store.url.render_as_string(hide_password=False))},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert [e["status"] for e in shown["enrollments"]] == ["holdout"]
    mailed_one = sorted(mailed)[0]
    result = CliRunner().invoke(
        main, ["--workspace", str(h.root), "leads", "show", mailed_one, "--json"],
        env={"NURTURE_DATABASE_URL": str(h.store.url.render_as_string(hide_password=False))},
    )  # fmt: skip
    assert json.loads(result.output)["messages"][0]["variant"] in ("a", "b")


def run_cli(h: Harness, *args: str) -> str:
    url = h.store.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(
        main,
        ["--workspace", str(h.root), *args],
        env={"NURTURE_DATABASE_URL": url, "NURTURE_NOW": MONDAY.isoformat()},
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_preview_and_simulate_show_each_variant(harness: Harness) -> None:
    h = harness
    with_variants(h)
    h.import_leads(leads_csv(1), MONDAY)
    assert "Subject: Willkommen, Lead0!" in run_cli(
        h, "preview", "trial", "welcome", "--lead", "lead0@firma0.de"
    )
    shown = run_cli(h, "preview", "trial", "welcome", "--lead", "lead0@firma0.de", "--variant", "b")
    assert "Subject: Lead0, Ihr Testzugang ist bereit" in shown
    refused = CliRunner().invoke(
        main, ["--workspace", str(h.root), "preview", "trial", "welcome", "--sample", "--variant", "c"]
    )
    assert refused.exit_code != 0 and "no variant 'c' (it has a, b)" in refused.output
    simulated = json.loads(run_cli(h, "simulate", "--days", "1", "--variant", "b", "--json"))
    welcome = [s for s in simulated["sends"] if s["step"] == "welcome"]
    assert welcome and {(s["variant"], s["subject"]) for s in welcome} == {
        ("b", "Lead0, Ihr Testzugang ist bereit")
    }
