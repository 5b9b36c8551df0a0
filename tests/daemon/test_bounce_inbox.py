"""The bounces job: late bounces and complaints from the bounce mailbox suppress the address."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sqlalchemy import select

from nurture.daemon.bounce_inbox import read_bounce_inbox
from nurture.definitions import load_program
from nurture.delivery.bounce_mailbox import open_bounce_mailbox
from nurture.delivery.mime import bounce_token
from nurture.leads.addresses import suppression_hash
from nurture.lifecycle import Lifecycle
from nurture.sending.factory import signer_for
from nurture.store.schema import events, leads, messages, suppressions
from nurture.tokens import TokenSigner
from nurture.workspace import Workspace
from tests.daemon.helpers import PINNED
from tests.harness import Harness

FIXTURES = Path(__file__).resolve().parents[1] / "delivery" / "fixtures" / "bounces"


def drop(inbox_path: Path, name: str, fixture: str, token: str) -> None:
    raw = (FIXTURES / fixture).read_bytes().replace(b"@@TOKEN@@", token.encode())
    (inbox_path / "new" / name).write_bytes(raw)


def test_bounces_and_complaints_suppress_only_with_a_valid_token(harness: Harness) -> None:
    harness.import_leads(
        "email,first_name,country,timezone\n"
        + "".join(f"b{i}@firma.de,B{i},DE,Europe/Berlin\n" for i in range(3)),
        PINNED,
    )
    harness.tick(PINNED)
    store = harness.store
    with store.begin() as conn:
        conn.execute(messages.update().values(status="sent"))
        ids = {
            row.to_address: int(row.id) for row in conn.execute(select(messages.c.id, messages.c.to_address))
        }
    workspace = Workspace(harness.root)
    signer = signer_for(workspace)
    inbox = open_bounce_mailbox("maildir:bounces", harness.root, signer)
    folder = harness.root / "bounces"
    drop(folder, "1.M1P1Q1.host", "postfix-user-unknown.eml", bounce_token(signer, ids["b0@firma.de"]))
    drop(folder, "2.M1P1Q2.host", "postfix-delayed.eml", bounce_token(signer, ids["b1@firma.de"]))
    drop(folder, "3.M1P1Q3.host", "arf-complaint.eml", bounce_token(signer, ids["b2@firma.de"]))
    forged = bounce_token(TokenSigner(b"someone-else-0123456789"), ids["b1@firma.de"])
    drop(folder, "4.M1P1Q4.host", "postfix-user-unknown.eml", forged)
    drop(folder, "5.M1P1Q5.host", "out-of-office-de.eml", "")

    program = Lifecycle.of(load_program(workspace), workspace.settings)
    tally = read_bounce_inbox(store, inbox, program, PINNED)
    assert tally == Counter({"hard": 1, "soft": 1, "complaint": 1, "forged": 1, "auto_reply": 1})
    assert not list((folder / "new").iterdir())  # every message filed under cur/

    with store.connect() as conn:
        status = dict(conn.execute(select(messages.c.to_address, messages.c.status)).all())
        suppressed = dict(conn.execute(select(suppressions.c.email_hash, suppressions.c.reason)).all())
        unsubscribed = dict(conn.execute(select(leads.c.email, leads.c.unsubscribed_at)).all())
        kinds = sorted(
            (row.type, (row.properties or {}).get("bounce_type"))
            for row in conn.execute(select(events.c.type, events.c.properties))
        )
    assert status == {"b0@firma.de": "bounced", "b1@firma.de": "sent", "b2@firma.de": "sent"}
    assert suppressed == {
        suppression_hash("b0@firma.de"): "hard_bounce",
        suppression_hash("b2@firma.de"): "complaint",
    }
    assert unsubscribed["b2@firma.de"] is not None and unsubscribed["b1@firma.de"] is None
    assert kinds == [("bounce", "hard"), ("bounce", "soft"), ("complaint", None)]

    # A message read again (a crash before it was filed) is not recorded twice.
    for path in (folder / "cur").iterdir():
        path.rename(folder / "new" / path.name.split(":", 1)[0])
    read_bounce_inbox(store, inbox, program, PINNED)
    with store.connect() as conn:
        assert len(conn.execute(select(events.c.id)).all()) == 3


def test_nurture_tick_reads_the_bounce_mailbox_for_a_cron_setup(harness: Harness, cli) -> None:  # type: ignore[no-untyped-def]
    toml = harness.root / "nurture.toml"
    toml.write_text(toml.read_text() + 'bounce_mailbox = "maildir:bounces"\n', encoding="utf-8")
    harness.import_leads("email,first_name,country,timezone\nc0@firma.de,C0,DE,Europe/Berlin\n", PINNED)
    harness.tick(PINNED)
    with harness.store.begin() as conn:
        conn.execute(messages.update().values(status="sent"))
        message_id = int(conn.execute(select(messages.c.id)).scalar_one())
    signer = signer_for(Workspace(harness.root))
    folder = harness.root / "bounces"
    for sub in ("new", "cur", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    drop(folder, "1.M1P1Q1.host", "postfix-user-unknown.eml", bounce_token(signer, message_id))

    result = cli("tick", "--no-send", "--now", PINNED.isoformat())
    assert result.exit_code == 0, result.output
    assert "bounce mailbox\n  hard      1\n" in result.output
    with harness.store.connect() as conn:
        assert conn.execute(select(messages.c.status)).scalar_one() == "bounced"

    again = cli("tick", "--no-send", "--now", PINNED.isoformat())
    assert "bounce mailbox" not in again.output  # filed: nothing new to read
