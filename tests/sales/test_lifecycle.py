"""What follows a change to a lead uses what its process handed it, and runs in one order."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from nurture.lifecycle import Lifecycle, SalesSetup
from nurture.sales import ACCEPT, handoff_from_token
from nurture.settings import secret_key
from nurture.store.schema import enrollments, stage_changes
from nurture.tokens import InvalidToken, TokenSigner
from tests.sales.desk import LEADS, MONDAY, Desk

LENA = "lena@alpenblick.de"
OTHER_KEY = b"a-different-key-0123456789abcdef"


def test_the_chain_reads_no_key_or_settings_from_disk_during_a_pass(desk: Desk) -> None:
    desk.import_leads(LEADS)
    handed = secret_key(desk.settings, desk.root)
    desk.lifecycle  # built once, as a process builds it at start  # noqa: B018
    # The workspace's settings change under the running process: a new key, another public URL.
    toml = desk.root / "nurture.toml"
    edited = toml.read_text(encoding="utf-8").replace("test-secret-key-0123456789", OTHER_KEY.decode())
    toml.write_text(edited.replace("https://nurture.example", "https://elsewhere.example"), encoding="utf-8")
    desk.make_mql(LENA, MONDAY)
    (notice,) = desk.sales_messages(LENA)
    token = re.search(r"https://nurture\.example/sales/accept/(\S+)", notice.text).group(1)  # type: ignore[union-attr]
    assert handoff_from_token(TokenSigner(handed), ACCEPT, token) == desk.handoffs(LENA)[0].id
    with pytest.raises(InvalidToken):
        handoff_from_token(TokenSigner(OTHER_KEY), ACCEPT, token)


def test_a_new_mql_is_routed_its_rep_told_and_its_nurture_campaigns_end_in_one_pass(desk: Desk) -> None:
    desk.import_leads(LEADS)
    lead_id = desk.lead_id(LENA)
    with desk.store.begin() as conn:  # Lena is in the trial, which a lead leaves as an MQL
        conn.execute(
            enrollments.insert().values(
                lead_id=lead_id, campaign_key="trial", campaign_version="v", step_id="welcome",
                status="active", entered_at=MONDAY, step_started_at=MONDAY, due_at=MONDAY + timedelta(days=1),
            )
        )  # fmt: skip
    desk.make_mql(LENA, MONDAY)
    with desk.store.connect() as conn:
        moved = conn.execute(select(stage_changes.c.to_stage).where(stage_changes.c.lead_id == lead_id)).all()
        status = conn.scalar(select(enrollments.c.status).where(enrollments.c.lead_id == lead_id))
    assert [row.to_stage for row in moved][-1] == "mql"
    assert desk.handoffs(LENA) and desk.sales_messages(LENA)
    assert status == "exited"


def test_a_chain_made_for_a_reloaded_program_keeps_the_key_and_reads_edited_templates(desk: Desk) -> None:
    setup = SalesSetup.of(desk.settings, desk.root)
    override = desk.root / "templates" / "sales" / "notification.subject.txt"
    override.parent.mkdir(parents=True, exist_ok=True)
    override.write_text("Neuer Lead: {{ lead.name }}", encoding="utf-8")
    first = Lifecycle(desk.program, setup)
    assert subject(first) == "Neuer Lead: Lena"
    override.write_text("Bitte anrufen: {{ lead.name }}", encoding="utf-8")
    second = Lifecycle(desk.program, setup)  # what a daemon's reload makes
    assert second.sales.signer is first.sales.signer
    assert subject(second) == "Bitte anrufen: Lena"
    assert subject(first) == "Neuer Lead: Lena"  # a running pass keeps the version it began with


def subject(lifecycle: Lifecycle) -> str:
    template = lifecycle.sales.templates.get_template("sales/notification.subject.txt")
    return template.render(lead={"name": "Lena"})
