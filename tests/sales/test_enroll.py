"""``nurture enroll``: leads put into an ``on: manual`` campaign by hand, under the entry's rules."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from nurture.engagement.optouts import add_suppression
from nurture.engine.manual import NotManualEntry, enroll_by_hand
from nurture.store.schema import audit_log, enrollments, leads
from tests.sales.desk import MONDAY, Desk

WINBACK = """\
kind: Campaign
key: winback
entry: {on: manual, where: "lead.country in ['DE', 'AT']"}
re_entry: 30d
exit_when: ["lead.lifecycle_stage == 'customer'"]
steps:
  - id: hello
    send: {template: t/mail, subject: "Lange nicht gesehen"}
"""

LEADS = (
    "email,first_name,country\n"
    "lena@alpenblick.de,Lena,DE\n"
    "max@bergwerk.at,Max,AT\n"
    "sara@keller.ch,Sara,CH\n"
    "gone@firm.de,Gone,DE\n"
    "quiet@firm.de,Quiet,DE\n"
    "won@firm.de,Won,DE\n"
)
LATER = MONDAY + timedelta(hours=1)
CUSTOMER = "lead.lifecycle_stage == 'customer'"


@pytest.fixture
def desk(desk: Desk) -> Desk:
    (desk.root / "campaigns" / "winback.yaml").write_text(WINBACK, encoding="utf-8")
    desk.reload()
    desk.import_leads(LEADS)
    with desk.store.begin() as conn:
        conn.execute(leads.update().where(leads.c.email == "gone@firm.de").values(unsubscribed_at=MONDAY))
        conn.execute(leads.update().where(leads.c.email == "won@firm.de").values(lifecycle_stage="customer"))
        add_suppression(conn, "quiet@firm.de", "bounce", "550 no such user", MONDAY)
    return desk


def enrolled(desk: Desk, campaign: str) -> dict[str, str]:
    """Who has an enrollment in the campaign, with its status."""
    with desk.store.connect() as conn:
        rows = conn.execute(
            select(leads.c.email, enrollments.c.status)
            .join(enrollments, enrollments.c.lead_id == leads.c.id)
            .where(enrollments.c.campaign_key == campaign)
        ).all()
    return {row.email: row.status for row in rows}


def by_hand(desk: Desk, campaign: str, emails: list[str], now: Any = LATER, force: bool = False) -> Any:
    with desk.store.begin() as conn:
        results = enroll_by_hand(conn, desk.program.campaign(campaign), emails, now, force=force)
    return {r.email: (r.outcome, r.why) for r in results}


def test_each_address_gets_its_own_answer_under_the_entry_rules(desk: Desk) -> None:
    emails = [
        "Lena@Alpenblick.de", "max@bergwerk.at", "sara@keller.ch", "gone@firm.de", "quiet@firm.de",
        "won@firm.de", "nobody@firm.de", "not an address",
    ]  # fmt: skip
    assert by_hand(desk, "winback", emails) == {
        "Lena@Alpenblick.de": ("entered", ""),
        "max@bergwerk.at": ("entered", ""),
        "sara@keller.ch": ("refused", "does not match the entry's where: lead.country in ['DE', 'AT']"),
        "gone@firm.de": ("refused", "unsubscribed"),
        "quiet@firm.de": ("refused", "suppressed (bounce)"),
        "won@firm.de": (
            "refused",
            "meets the campaign's exit_when already: lead.lifecycle_stage == 'customer'",
        ),
        "nobody@firm.de": ("unknown", "no lead with this e-mail address"),
        "not an address": ("unknown", "no lead with this e-mail address"),
    }
    assert enrolled(desk, "winback") == {"lena@alpenblick.de": "active", "max@bergwerk.at": "active"}


def test_re_entry_is_honoured(desk: Desk) -> None:
    by_hand(desk, "winback", ["lena@alpenblick.de"])
    assert by_hand(desk, "winback", ["lena@alpenblick.de"]) == {
        "lena@alpenblick.de": ("inside", "in the campaign already")
    }
    with desk.store.begin() as conn:
        conn.execute(enrollments.update().values(status="exited", ended_at=LATER))
    too_soon = by_hand(desk, "winback", ["lena@alpenblick.de"], now=LATER + timedelta(days=29))
    assert too_soon["lena@alpenblick.de"][0] == "refused"
    assert "re_entry lets it back 30d after it left" in too_soon["lena@alpenblick.de"][1]
    back = by_hand(desk, "winback", ["lena@alpenblick.de"], now=LATER + timedelta(days=30))
    assert back == {"lena@alpenblick.de": ("entered", "")}
    # The recycle campaign has no re_entry: once is all.
    by_hand(desk, "recycle", ["max@bergwerk.at"])
    with desk.store.begin() as conn:
        conn.execute(
            enrollments.update().where(enrollments.c.campaign_key == "recycle").values(status="completed")
        )
    assert by_hand(desk, "recycle", ["max@bergwerk.at"])["max@bergwerk.at"] == (
        "refused", "was in the campaign before, and it allows no re-entry",
    )  # fmt: skip


def test_campaigns_with_their_own_entry_need_force(desk: Desk) -> None:
    with pytest.raises(
        NotManualEntry, match=r"campaign 'trial' enrols its own leads \(entry on: lead_created\)"
    ):
        by_hand(desk, "trial", ["sara@keller.ch"])
    desk.import_leads("email,country\nnew@firm.us,US\nneu@firm.de,DE\n")
    assert by_hand(desk, "trial", ["neu@firm.de", "new@firm.us"], force=True) == {
        "neu@firm.de": ("entered", ""),
        "new@firm.us": ("refused", "does not match the entry's where: lead.country in ['DE', 'AT', 'CH']"),
    }


def test_the_enroll_command(desk: Desk, cli: Any) -> None:
    env = {"NURTURE_NOW": LATER.isoformat()}
    result = cli("enroll", "winback", "lena@alpenblick.de", "nobody@firm.de", "--actor", "maria", env=env)
    assert result.exit_code == 1
    assert "lena@alpenblick.de: entered\n" in result.output
    assert "nobody@firm.de: unknown (no lead with this e-mail address)\n" in result.output
    assert "1 lead entered winback\n" in result.output
    result = cli("enroll", "winback", "max@bergwerk.at", "lena@alpenblick.de", env=env)
    assert result.exit_code == 0, result.output
    assert "lena@alpenblick.de: inside (in the campaign already)" in result.output
    result = cli("enroll", "trial", "max@bergwerk.at", env=env)
    assert (result.exit_code, "--force to enrol anyway" in result.output) == (1, True)
    result = cli("enroll", "nosuch", "max@bergwerk.at", env=env)
    assert (result.exit_code, "no campaign 'nosuch'" in result.output) == (1, True)
    assert cli("enroll", "winback", env=env).exit_code == 2  # at least one address
    with desk.store.connect() as conn:
        lines = conn.execute(select(audit_log).order_by(audit_log.c.id)).all()
    first, second = lines  # refusals change nothing and are not audited
    assert (first.actor, first.action, first.subject) == ("maria", "enroll", "campaign:winback")
    assert first.at == LATER
    lena = desk.lead_id("lena@alpenblick.de")
    assert first.detail == {"lead_ids": [lena], "force": False, "entry": "manual"}
    assert second.detail["lead_ids"] == [desk.lead_id("max@bergwerk.at")]
    assert enrolled(desk, "winback") == {"lena@alpenblick.de": "active", "max@bergwerk.at": "active"}
