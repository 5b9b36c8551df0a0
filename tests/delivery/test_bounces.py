"""Reading the bounce mailbox: DSNs, non-standard bounces, auto-replies and complaints."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nurture.delivery.bounce_mailbox import (
    BounceMailboxError,
    ImapBounceInbox,
    MaildirBounceInbox,
    open_bounce_mailbox,
)
from nurture.delivery.bounces import BounceKind, classify_bounce
from nurture.delivery.mime import bounce_token
from nurture.tokens import TokenSigner

FIXTURES = Path(__file__).parent / "fixtures" / "bounces"
MESSAGE_REF = 4711


def fixture(name: str, signer: TokenSigner, token: str | None = None) -> bytes:
    raw = (FIXTURES / name).read_bytes()
    return raw.replace(b"@@TOKEN@@", (token or bounce_token(signer, MESSAGE_REF)).encode())


@pytest.mark.parametrize(
    ("name", "kind", "status", "recipient"),
    [
        ("postfix-user-unknown.eml", BounceKind.HARD, "5.1.1", "juergen.mueller@kunde.de"),
        ("postfix-delayed.eml", BounceKind.SOFT, "4.4.1", "anna@langsam.example"),
        ("exchange-ndr.eml", BounceKind.HARD, "5.1.10", "peter.schulz@kunde-ag.de"),
        ("gmail-no-such-user.eml", BounceKind.HARD, "5.1.1", "max.nobody@gmail.com"),
        ("mailbox-full.eml", BounceKind.SOFT, "5.2.2", "voll@kunde.de"),
        ("qmail-failure-notice.eml", BounceKind.HARD, "5.1.1", None),
    ],
)
def test_bounces_are_classified_and_tied_to_the_message(
    signer: TokenSigner, name: str, kind: BounceKind, status: str, recipient: str | None
) -> None:
    report = classify_bounce(fixture(name, signer), signer)
    assert report.kind is kind
    assert report.status == status
    assert report.recipient == recipient
    assert report.message_ref == MESSAGE_REF
    assert not report.forged


def test_the_diagnostic_is_kept_for_the_operator(signer: TokenSigner) -> None:
    report = classify_bounce(fixture("postfix-user-unknown.eml", signer), signer)
    assert "User unknown" in report.diagnostic
    qmail = classify_bounce(fixture("qmail-failure-notice.eml", signer), signer)
    assert "550 5.1.1" in qmail.diagnostic


@pytest.mark.parametrize("name", ["out-of-office-de.eml", "out-of-office-exchange.eml"])
def test_out_of_office_replies_are_not_bounces(signer: TokenSigner, name: str) -> None:
    report = classify_bounce(fixture(name, signer), signer)
    assert report.kind is BounceKind.AUTO_REPLY
    assert report.message_ref == MESSAGE_REF


def test_auto_reply_subjects_alone_are_recognised(signer: TokenSigner) -> None:
    for subject in ("Out of Office: Willkommen", "Automatic reply: Hallo", "Abwesenheitsnotiz"):
        raw = f"From: x@kunde.de\r\nTo: y@example.com\r\nSubject: {subject}\r\n\r\nweg\r\n".encode()
        assert classify_bounce(raw, signer).kind is BounceKind.AUTO_REPLY


def test_complaints_are_recognised(signer: TokenSigner) -> None:
    report = classify_bounce(fixture("arf-complaint.eml", signer), signer)
    assert report.kind is BounceKind.COMPLAINT
    assert report.recipient == "eva@hotmail.com"
    assert report.diagnostic == "abuse"
    assert report.message_ref == MESSAGE_REF


def test_a_human_reply_is_unknown(signer: TokenSigner) -> None:
    report = classify_bounce(fixture("human-reply.eml", signer), signer)
    assert report.kind is BounceKind.UNKNOWN


def test_a_forged_token_is_not_trusted(signer: TokenSigner) -> None:
    forged = bounce_token(TokenSigner(b"not-our-secret-key-0123456789"), MESSAGE_REF)
    report = classify_bounce(fixture("postfix-user-unknown.eml", signer, forged), signer)
    assert report.kind is BounceKind.HARD
    assert report.message_ref is None
    assert report.forged


def test_a_token_for_another_purpose_is_not_trusted(signer: TokenSigner) -> None:
    other = signer.sign_lowercase("unsubscribe", (MESSAGE_REF,))
    report = classify_bounce(fixture("gmail-no-such-user.eml", signer, other), signer)
    assert report.message_ref is None and report.forged


def test_a_bounce_address_whose_case_was_changed_still_counts(signer: TokenSigner) -> None:
    raw = fixture("postfix-user-unknown.eml", signer).replace(b"bounces+", b"BOUNCES+")
    token = bounce_token(signer, MESSAGE_REF)
    raw = raw.replace(token.encode(), token.upper().encode())
    assert classify_bounce(raw, signer).message_ref == MESSAGE_REF


def test_garbage_does_not_crash(signer: TokenSigner) -> None:
    for raw in (
        b"",
        b"\x00\xff\xfe",
        b"Subject: =?bogus?q?x?=\r\n\r\n",
        b"Content-Type: multipart/report\r\n\r\n--x",
    ):
        assert classify_bounce(raw, signer).kind is BounceKind.UNKNOWN


def test_the_mailbox_hands_out_each_message_once(tmp_path: Path, signer: TokenSigner) -> None:
    inbox = MaildirBounceInbox(tmp_path / "bounces", signer)
    for index, name in enumerate(["postfix-user-unknown.eml", "out-of-office-de.eml", "arf-complaint.eml"]):
        (tmp_path / "bounces" / "new" / f"17724384{index:02d}.M1P1Q{index}.mx").write_bytes(
            fixture(name, signer)
        )
    kinds = []
    for item in inbox:
        kinds.append(item.report.kind)
        if item.report.kind is not BounceKind.COMPLAINT:
            inbox.done(item)  # the complaint's handling "failed": it stays for the next run
    assert kinds == [BounceKind.HARD, BounceKind.AUTO_REPLY, BounceKind.COMPLAINT]
    assert [item.report.kind for item in inbox] == [BounceKind.COMPLAINT]
    assert sorted(p.name.split(":")[1] for p in (tmp_path / "bounces" / "cur").iterdir()) == ["2,S", "2,S"]


def test_the_bounce_mailbox_setting(tmp_path: Path, signer: TokenSigner) -> None:
    inbox = open_bounce_mailbox("maildir:bounces", tmp_path, signer)
    assert isinstance(inbox, MaildirBounceInbox) and inbox.path == tmp_path / "bounces"
    imap = open_bounce_mailbox("imaps://user:secret@mail.example.com/INBOX", tmp_path, signer)
    assert isinstance(imap, ImapBounceInbox)
    with pytest.raises(BounceMailboxError, match="use maildir:PATH or imaps://") as error:
        open_bounce_mailbox("pop3://user:secret@mail.example.com", tmp_path, signer)
    assert "secret" not in str(error.value)


def test_messages_delivered_by_another_program_are_read(tmp_path: Path, signer: TokenSigner) -> None:
    import mailbox

    box = mailbox.Maildir(tmp_path / "bounces", create=True)
    box.add(fixture("gmail-no-such-user.eml", signer))
    (item,) = list(MaildirBounceInbox(tmp_path / "bounces", signer))
    assert item.report.kind is BounceKind.HARD
    shutil.rmtree(tmp_path / "bounces")
