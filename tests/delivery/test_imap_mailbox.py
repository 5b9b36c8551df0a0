"""The bounce mailbox on an IMAP server: the setting, TLS, marking processed, and failures that lose
nothing. Against a real server (Dovecot on loopback, tests/imap_server.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nurture.delivery.bounce_mailbox import (
    BounceMailboxError,
    ImapBounceInbox,
    open_bounce_mailbox,
    parse_imap_url,
)
from nurture.delivery.bounces import BounceKind
from nurture.tokens import TokenSigner
from tests.delivery.test_bounces import fixture
from tests.imap_server import Dovecot, start_dovecot
from tests.ports import free_port


def mailbox(url: str, signer: TokenSigner) -> ImapBounceInbox:
    inbox = open_bounce_mailbox(url, Path("/nonexistent-workspace"), signer)
    assert isinstance(inbox, ImapBounceInbox)
    return inbox


def read_all(inbox: ImapBounceInbox, *, mark_done: bool = True) -> list[BounceKind]:
    kinds = []
    with inbox.open() as opened:
        for item in opened.new_messages():
            kinds.append(item.report.kind)
            if mark_done:
                opened.done(item)
    return kinds


# -- the setting -----------------------------------------------------------------------------------


def test_imaps_urls_use_tls_from_the_start_on_port_993(tmp_path: Path) -> None:
    s = parse_imap_url("imaps://bounces%40taktwerk.example:p%40ss%2Fw%3Frd@mail.taktwerk.example", tmp_path)
    assert (s.host, s.port, s.tls, s.mailbox) == ("mail.taktwerk.example", 993, "implicit", "INBOX")
    assert (s.username, s.password) == ("bounces@taktwerk.example", "p@ss/w?rd")
    assert (s.processed, s.verify, s.ca_file) == ("nurture-processed", True, None)
    assert "p@ss" not in repr(s) and "p@ss" not in s.describe()


def test_imap_urls_require_starttls_unless_told_otherwise(tmp_path: Path) -> None:
    s = parse_imap_url("imap://u:pw@mail.example.com/Bounces", tmp_path)
    assert (s.port, s.tls, s.mailbox) == (143, "starttls", "Bounces")
    plain = parse_imap_url("imap://u:pw@127.0.0.1:1143/INBOX?tls=none&processed=delete&timeout=5", tmp_path)
    assert (plain.port, plain.tls, plain.processed, plain.timeout) == (1143, "none", "delete", 5.0)
    assert plain.tls_context() is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("imaps://mail.example.com/INBOX", "name the user, password and server"),
        ("imaps://u:geheim@mail.example.com:99999/INBOX", "port must be a number"),
        ("imaps://u:geheim@mail.example.com/INBOX?tsl=none", "unknown option 'tsl'"),
        ("imap://u:geheim@mail.example.com/INBOX?tls=maybe", "tls must be starttls, implicit or none"),
        ("imaps://u:geheim@mail.example.com/INBOX?verify=perhaps", "verify must be true or false"),
        ("imaps://u:geheim@mail.example.com/INBOX?timeout=0", "timeout must be more than 0"),
        ("imaps://u:geheim@mail.example.com/INBOX?ca_file=missing.pem", "ca_file"),
        ("imaps://u:geheim@mail.example.com/Bounces?processed=Bounces", "another folder"),
    ],
)
def test_mistakes_in_the_setting_are_explained_without_the_password(
    tmp_path: Path, url: str, problem: str
) -> None:
    with pytest.raises(BounceMailboxError, match=problem) as error:
        parse_imap_url(url, tmp_path)
    assert "geheim" not in str(error.value)


# -- reading ---------------------------------------------------------------------------------------


def test_messages_are_read_once_and_then_moved_to_the_processed_folder(
    imap_server: Dovecot, signer: TokenSigner
) -> None:
    user, password = imap_server.add_user()
    imap_server.deliver(
        user, password,
        fixture("postfix-user-unknown.eml", signer), fixture("out-of-office-de.eml", signer),
        fixture("arf-complaint.eml", signer),
    )  # fmt: skip
    inbox = mailbox(imap_server.url(user, password), signer)
    with inbox.open() as opened:
        items = list(opened.new_messages())
        assert [item.report.kind for item in items] == [
            BounceKind.HARD,
            BounceKind.AUTO_REPLY,
            BounceKind.COMPLAINT,
        ]
        for item in items[:2]:
            opened.done(item)  # the complaint's handling "failed": it stays for the next reading
    assert imap_server.count(user, password, "INBOX") == 1
    assert imap_server.count(user, password, "nurture-processed") == 2
    assert read_all(inbox) == [BounceKind.COMPLAINT]
    assert read_all(inbox) == []
    with imap_server.client(user, password) as client:
        client.select('"nurture-processed"', readonly=True)
        assert client.uid("SEARCH", "SEEN")[1] == [b""]  # read with PEEK: a person still sees them as new


def test_a_report_read_again_has_the_same_key(imap_server: Dovecot, signer: TokenSigner) -> None:
    user, password = imap_server.add_user()
    imap_server.deliver(user, password, fixture("gmail-no-such-user.eml", signer))
    inbox = mailbox(imap_server.url(user, password), signer)
    with inbox.open() as opened:
        (first,) = list(opened.new_messages())
        opened.done(first)
    with imap_server.client(user, password) as client:  # as if the move had not happened
        client.select('"nurture-processed"')
        client.uid("COPY", "1:*", "INBOX")
    with inbox.open() as opened:
        (again,) = list(opened.new_messages())
    assert again.key == first.key and again.name != first.name


def test_starttls_protects_the_login_on_imap_urls(imap_server: Dovecot, signer: TokenSigner) -> None:
    user, password = imap_server.add_user()
    imap_server.deliver(user, password, fixture("postfix-delayed.eml", signer))
    assert read_all(mailbox(imap_server.url(user, password, tls="starttls"), signer)) == [BounceKind.SOFT]


def test_a_server_without_starttls_is_never_sent_the_password(signer: TokenSigner) -> None:
    plain = start_dovecot(ssl=False)
    try:
        user, password = plain.add_user()
        plain.deliver(user, password, fixture("postfix-delayed.eml", signer))
        logins = plain.log().count("Login: user=")
        with pytest.raises(BounceMailboxError, match="does not offer STARTTLS") as error:
            read_all(mailbox(plain.url(user, password, tls="starttls"), signer))
        assert password not in str(error.value)
        assert plain.log().count("Login: user=") == logins  # it never got as far as a login
        assert read_all(mailbox(plain.url(user, password, tls="none"), signer)) == [BounceKind.SOFT]
    finally:
        plain.stop()


def test_the_servers_certificate_is_checked(imap_server: Dovecot, signer: TokenSigner) -> None:
    user, password = imap_server.add_user()
    imap_server.deliver(user, password, fixture("postfix-delayed.eml", signer))
    untrusted = f"imaps://{user}:{password}@127.0.0.1:{imap_server.imaps_port}/INBOX"
    with pytest.raises(BounceMailboxError, match=r"certificate is not trusted.*ca_file"):
        read_all(mailbox(untrusted, signer))
    assert imap_server.count(user, password, "INBOX") == 1
    assert read_all(mailbox(untrusted + "?verify=false", signer)) == [BounceKind.SOFT]


def test_processed_delete_removes_each_message(imap_server: Dovecot, signer: TokenSigner) -> None:
    user, password = imap_server.add_user()
    imap_server.deliver(
        user, password, fixture("postfix-user-unknown.eml", signer), fixture("human-reply.eml", signer)
    )
    assert read_all(mailbox(imap_server.url(user, password, processed="delete"), signer)) == [
        BounceKind.HARD,
        BounceKind.UNKNOWN,
    ]
    assert imap_server.count(user, password, "INBOX") == 0
    assert imap_server.count(user, password, "nurture-processed") == 0


def test_folders_may_have_non_ascii_names(imap_server: Dovecot, signer: TokenSigner) -> None:
    user, password = imap_server.add_user()
    with imap_server.client(user, password) as client:
        client.create('"R&APw-ckl&AOQ-ufer"')  # "Rückläufer" in IMAP's modified UTF-7
    imap_server.deliver(user, password, fixture("exchange-ndr.eml", signer), folder='"R&APw-ckl&AOQ-ufer"')
    url = imap_server.url(user, password, "R%C3%BCckl%C3%A4ufer", processed="Erledigt & gezählt")
    assert read_all(mailbox(url, signer)) == [BounceKind.HARD]
    assert imap_server.count(user, password, "Rückläufer") == 0
    assert imap_server.count(user, password, "Erledigt & gezählt") == 1


# -- failures --------------------------------------------------------------------------------------


def test_a_refused_login_is_a_clear_error_that_loses_nothing(
    imap_server: Dovecot, signer: TokenSigner
) -> None:
    user, password = imap_server.add_user()
    imap_server.deliver(user, password, fixture("postfix-user-unknown.eml", signer))
    with pytest.raises(BounceMailboxError, match="login refused") as error:
        read_all(mailbox(imap_server.url(user, "Falsch-987"), signer))
    assert "Falsch-987" not in str(error.value) and user in str(error.value)
    assert imap_server.count(user, password, "INBOX") == 1
    assert read_all(mailbox(imap_server.url(user, password), signer)) == [BounceKind.HARD]


def test_a_server_that_is_down_is_a_clear_error(signer: TokenSigner) -> None:
    url = f"imaps://bounces:Geheim-123@127.0.0.1:{free_port()}/INBOX?timeout=5"
    with pytest.raises(BounceMailboxError, match="cannot connect: Connection refused") as error:
        read_all(mailbox(url, signer))
    assert "Geheim-123" not in str(error.value)


def test_a_missing_mailbox_is_a_clear_error(imap_server: Dovecot, signer: TokenSigner) -> None:
    user, password = imap_server.add_user()
    with pytest.raises(BounceMailboxError, match=r"cannot open the mailbox.*Bounces"):
        read_all(mailbox(imap_server.url(user, password, "Bounces"), signer))
