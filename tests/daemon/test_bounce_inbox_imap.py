"""The bounces job reading an IMAP mailbox (Dovecot on loopback): bounces and complaints suppress
once, auto-replies change nothing, repeated soft bounces suppress, and an unreachable mailbox loses
nothing."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from nurture.daemon.bounce_inbox import read_bounce_inbox
from nurture.definitions import load_program
from nurture.delivery.bounce_mailbox import BounceMailbox, BounceMailboxError, open_bounce_mailbox
from nurture.delivery.mime import bounce_token
from nurture.engagement import NewEvent, store_events
from nurture.leads.addresses import suppression_hash
from nurture.lifecycle import Lifecycle
from nurture.sending.factory import signer_for
from nurture.store.schema import enrollments, events, leads, messages, suppressions
from nurture.tokens import TokenSigner
from nurture.workspace import Workspace
from tests.daemon.helpers import FAST_JOBS, PINNED, DaemonProcess, import_leads, wait_for
from tests.harness import Harness
from tests.imap_server import Dovecot

FIXTURES = Path(__file__).resolve().parents[1] / "delivery" / "fixtures" / "bounces"


class Mailbox:
    """One test's IMAP bounce mailbox, and the signer that makes bounce tokens for it."""

    def __init__(self, server: Dovecot, harness: Harness) -> None:
        self.server = server
        self.user, self.password = server.add_user()
        self.signer = signer_for(Workspace(harness.root))
        self.root = harness.root

    def inbox(self, password: str | None = None) -> BounceMailbox:
        url = self.server.url(self.user, password or self.password)
        return open_bounce_mailbox(url, self.root, self.signer)

    def deliver(self, fixture: str, message_id: int | None = None, *, token: str | None = None) -> None:
        if token is None:
            token = bounce_token(self.signer, message_id) if message_id is not None else ""
        raw = (FIXTURES / fixture).read_bytes().replace(b"@@TOKEN@@", token.encode())
        self.server.deliver(self.user, self.password, raw)

    def count(self, folder: str) -> int:
        return self.server.count(self.user, self.password, folder)


@pytest.fixture
def mailbox(imap_server: Dovecot, harness: Harness) -> Mailbox:
    return Mailbox(imap_server, harness)


def sent(harness: Harness, *emails: str, days: tuple[int, ...] = (0,)) -> dict[str, list[int]]:
    """Import the leads, run the program on those days and mark every email sent; their ids by lead."""
    harness.import_leads(
        "email,first_name,country,timezone\n" + "".join(f"{e},X,DE,Europe/Berlin\n" for e in emails), PINNED
    )
    for day in days:
        harness.tick(PINNED + timedelta(days=day))
    with harness.store.begin() as conn:
        conn.execute(messages.update().values(status="sent"))
    ids: dict[str, list[int]] = {}
    for row in harness.messages():
        ids.setdefault(row.to_address, []).append(int(row.id))
    return ids


def read(harness: Harness, mailbox: Mailbox, now: datetime = PINNED, **options: int) -> Counter[str]:
    workspace = Workspace(harness.root)
    program = Lifecycle.of(load_program(workspace), workspace.settings)
    return read_bounce_inbox(harness.store, mailbox.inbox(), program, now, **options)


def recorded(harness: Harness) -> list[tuple[str, str | None]]:
    with harness.store.connect() as conn:
        rows = conn.execute(select(events.c.type, events.c.properties)).all()
    return sorted((row.type, (row.properties or {}).get("bounce_type")) for row in rows)


def suppressed(harness: Harness) -> dict[str, str]:
    with harness.store.connect() as conn:
        return dict(conn.execute(select(suppressions.c.email_hash, suppressions.c.reason)).all())


def enrollment_status(harness: Harness, email: str) -> tuple[str, str | None]:
    row = harness.enrollment(email)
    return row.status, row.exit_reason


def test_bounces_from_an_imap_mailbox_are_recorded_once(harness: Harness, mailbox: Mailbox) -> None:
    ids = sent(harness, "hart@firma.de", "weich@firma.de", "spam@firma.de", "urlaub@firma.de")
    mailbox.deliver("postfix-user-unknown.eml", ids["hart@firma.de"][0])
    mailbox.deliver("postfix-delayed.eml", ids["weich@firma.de"][0])
    mailbox.deliver("arf-complaint.eml", ids["spam@firma.de"][0])
    mailbox.deliver("out-of-office-de.eml", ids["urlaub@firma.de"][0])
    forged = bounce_token(TokenSigner(b"someone-else-0123456789"), ids["weich@firma.de"][0])
    mailbox.deliver("gmail-no-such-user.eml", token=forged)

    tally = read(harness, mailbox)
    assert tally == Counter({"hard": 1, "soft": 1, "complaint": 1, "auto_reply": 1, "forged": 1})
    assert (mailbox.count("INBOX"), mailbox.count("nurture-processed")) == (0, 5)
    assert recorded(harness) == [("bounce", "hard"), ("bounce", "soft"), ("complaint", None)]
    assert suppressed(harness) == {
        suppression_hash("hart@firma.de"): "hard_bounce",
        suppression_hash("spam@firma.de"): "complaint",
    }
    assert enrollment_status(harness, "hart@firma.de") == ("exited", "address bounced (hard)")
    assert enrollment_status(harness, "spam@firma.de") == ("exited", "marked as spam (complaint)")
    # An auto-reply is neither a bounce nor an unsubscribe; one soft bounce changes nothing.
    assert enrollment_status(harness, "urlaub@firma.de")[0] == "active"
    assert enrollment_status(harness, "weich@firma.de")[0] == "active"
    with harness.store.connect() as conn:
        unsubscribed = dict(conn.execute(select(leads.c.email, leads.c.unsubscribed_at)).all())
        status = dict(conn.execute(select(messages.c.to_address, messages.c.status)).all())
    assert unsubscribed["urlaub@firma.de"] is None and unsubscribed["spam@firma.de"] is not None
    assert status["hart@firma.de"] == "bounced" and status["weich@firma.de"] == "sent"

    assert read(harness, mailbox) == Counter()  # nothing waits: a second run records nothing

    # The process died after committing and before moving: the same messages are read again.
    with mailbox.server.client(mailbox.user, mailbox.password) as client:
        client.select('"nurture-processed"')
        client.uid("COPY", "1:*", "INBOX")
    assert read(harness, mailbox)["hard"] == 1
    assert recorded(harness) == [("bounce", "hard"), ("bounce", "soft"), ("complaint", None)]
    assert mailbox.count("INBOX") == 0


def test_repeated_soft_bounces_suppress_the_address(harness: Harness, mailbox: Mailbox) -> None:
    ids = sent(harness, "voll@firma.de", days=(0, 2, 7))["voll@firma.de"]
    assert len(ids) == 3
    mailbox.deliver("mailbox-full.eml", ids[0])
    mailbox.deliver("postfix-delayed.eml", ids[1])
    mailbox.deliver("mailbox-full.eml", ids[1])  # the same email again: one email, counted once
    assert read(harness, mailbox) == Counter({"soft": 3})
    assert suppressed(harness) == {}
    assert enrollment_status(harness, "voll@firma.de")[0] == "active"

    mailbox.deliver("postfix-delayed.eml", ids[2])
    assert read(harness, mailbox) == Counter({"soft": 1})
    assert suppressed(harness) == {suppression_hash("voll@firma.de"): "soft_bounces"}
    assert enrollment_status(harness, "voll@firma.de") == ("exited", "address bounced (soft, repeatedly)")


def test_an_open_between_soft_bounces_starts_the_count_again(harness: Harness, mailbox: Mailbox) -> None:
    ids = sent(harness, "lebt@firma.de", days=(0, 2, 7))["lebt@firma.de"]
    mailbox.deliver("mailbox-full.eml", ids[0])
    read(harness, mailbox, PINNED + timedelta(days=1))
    with harness.store.begin() as conn:
        lead_id = conn.scalar(select(leads.c.id).where(leads.c.email == "lebt@firma.de"))
        opened = NewEvent(type="email_open", occurred_at=PINNED + timedelta(days=3), lead_id=lead_id)
        store_events(conn, None, [opened], PINNED + timedelta(days=3))
    mailbox.deliver("mailbox-full.eml", ids[1])
    mailbox.deliver("postfix-delayed.eml", ids[2])
    assert read(harness, mailbox, PINNED + timedelta(days=8)) == Counter({"soft": 2})
    assert suppressed(harness) == {}  # two emails since the open, not three

    mailbox.deliver("mailbox-full.eml", ids[2])
    read(harness, mailbox, PINNED + timedelta(days=9), soft_bounce_limit=0)  # 0: never
    assert suppressed(harness) == {}
    mailbox.deliver("postfix-delayed.eml", ids[1])
    read(harness, mailbox, PINNED + timedelta(days=9), soft_bounce_limit=2)
    assert suppressed(harness) == {suppression_hash("lebt@firma.de"): "soft_bounces"}


def test_an_unreachable_mailbox_loses_nothing(harness: Harness, mailbox: Mailbox) -> None:
    ids = sent(harness, "hart@firma.de")
    mailbox.deliver("postfix-user-unknown.eml", ids["hart@firma.de"][0])
    workspace = Workspace(harness.root)
    program = Lifecycle.of(load_program(workspace), workspace.settings)
    with pytest.raises(BounceMailboxError, match="login refused") as error:
        read_bounce_inbox(harness.store, mailbox.inbox(password="Falsch-987"), program, PINNED)
    assert "Falsch-987" not in str(error.value)
    assert recorded(harness) == [] and mailbox.count("INBOX") == 1

    assert read(harness, mailbox) == Counter({"hard": 1})  # the next run, with the server back
    assert suppressed(harness) == {suppression_hash("hart@firma.de"): "hard_bounce"}
    with harness.store.connect() as conn:
        assert conn.scalar(select(enrollments.c.status)) == "exited"


@pytest.mark.slow
def test_the_daemon_reads_the_imap_mailbox_and_never_logs_its_password(
    sqlite_workspace: tuple[Path, Engine], imap_server: Dovecot
) -> None:
    root, store = sqlite_workspace
    jobs = FAST_JOBS + "  bounces: {every: 1s, misfire_grace_time: 5s}\n"
    (root / "scheduler" / "jobs.yaml").write_text(jobs, encoding="utf-8")
    import_leads(root, store, 1)
    user, password = imap_server.add_user()

    refused = DaemonProcess(
        root, name="refused", env={"NURTURE_BOUNCE_MAILBOX": imap_server.url(user, "Falsch-987")}
    )
    try:
        failures = wait_for(lambda: refused.events("job.mailbox_unavailable"), 30, "the bounces job to fail")
        wait_for(lambda: sent_emails(store), 30, "the welcome email")
        refused.stop()
    finally:
        refused.ensure_gone()
    assert failures[0]["job"] == "bounces" and "login refused" in failures[0]["error"]
    assert failures[0]["level"] == "warning" and not refused.events("job.failed")
    assert "Falsch-987" not in refused.log_path.read_text(encoding="utf-8")

    (email,) = sent_emails(store)
    token = bounce_token(signer_for(Workspace(root)), email)
    raw = (FIXTURES / "postfix-user-unknown.eml").read_bytes().replace(b"@@TOKEN@@", token.encode())
    imap_server.deliver(user, password, raw)
    reading = DaemonProcess(
        root, name="reading", env={"NURTURE_BOUNCE_MAILBOX": imap_server.url(user, password)}
    )
    try:
        wait_for(lambda: suppressed_in(store), 30, "the hard bounce to suppress the address")
        reading.stop()
    finally:
        reading.ensure_gone()
    assert suppressed_in(store) == {suppression_hash("lead0@firma0.de"): "hard_bounce"}
    assert imap_server.count(user, password, "nurture-processed") == 1
    assert password not in reading.log_path.read_text(encoding="utf-8")


def sent_emails(store: Engine) -> list[int]:
    with store.connect() as conn:
        return [int(i) for i in conn.scalars(select(messages.c.id).where(messages.c.status == "sent"))]


def suppressed_in(store: Engine) -> dict[str, str]:
    with store.connect() as conn:
        return dict(conn.execute(select(suppressions.c.email_hash, suppressions.c.reason)).all())
