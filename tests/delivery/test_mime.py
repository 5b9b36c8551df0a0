"""Messages built by hand must read back exactly under the strictest parser."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import dkim
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nurture.delivery.headers import (
    Address,
    HeaderError,
    InvalidAddress,
    address_field,
    clean_header_text,
    header_field,
)
from nurture.delivery.mime import (
    BOUNCE_TOKEN_HEADER,
    Email,
    bounce_token,
    build_message,
    verp_address,
)
from nurture.delivery.signing import DkimError, DkimSigner
from nurture.settings import Settings
from nurture.tokens import TokenSigner

from .conftest import DkimKey

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
STRICT = BytesParser(policy=policy.strict)


def email(**overrides: Any) -> Email:
    values: dict[str, Any] = {
        "sender": Address("marketing@example.com", "Grüße aus München"),
        "to": Address("juergen@example.de", "Jürgen Müller"),
        "subject": "Grüße aus München",
        "text": "Hallo Jürgen,\nschön, dass Sie da sind.\n",
        "html": "<p>Hallo J&uuml;rgen,</p><p>schön, dass Sie da sind.</p>",
        "date": NOW,
        "list_unsubscribe": "https://t.example.com/u/abc123",
        "extra_headers": {"X-Nurture-Campaign": "trial-nurture"},
    }
    values.update(overrides)
    return Email(**values)


def parse(data: bytes) -> EmailMessage:
    message = STRICT.parsebytes(data)
    assert isinstance(message, EmailMessage)
    return message


def body_of(message: EmailMessage, subtype: str) -> str:
    part = message.get_body((subtype,))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def display_name_on_the_wire(data: bytes) -> str:
    """The To display name decoded the RFC 2047 way (as mail clients do).

    Python's address parser keeps the space between two adjacent encoded-words of a display name,
    which RFC 2047 §6.2 says to drop; the older ``decode_header`` follows the RFC.
    """
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii").replace("\r\n ", " ")
    value = next(line for line in head.split("\r\n") if line.startswith("To: "))[4:]
    phrase = value.rsplit(" <", 1)[0] if value.endswith(">") and " <" in value else ""
    if phrase.startswith('"'):
        return re.sub(r"\\(.)", r"\1", phrase[1:-1])
    return str(make_header(decode_header(phrase)))


def assert_wire_form(data: bytes) -> None:
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert data.isascii()
    for line in data.split(b"\r\n"):
        assert len(line) <= 998
    head, _, body = data.partition(b"\r\n\r\n")
    assert all(len(line) <= 78 for line in head.split(b"\r\n")), "header lines should stay within 78"
    assert all(len(line) <= 78 for line in body.split(b"\r\n")), "body lines should stay within 78"


def test_a_marketing_email_has_every_header_it_needs() -> None:
    built = build_message(email())
    message = parse(built.data)
    assert message["From"] == "Grüße aus München <marketing@example.com>"
    assert message["To"] == "Jürgen Müller <juergen@example.de>"
    assert message["Subject"] == "Grüße aus München"
    assert message["Date"].datetime == NOW
    assert message["Message-ID"] == built.message_id
    assert built.message_id.endswith("@example.com>")
    assert message["List-Unsubscribe"] == "<https://t.example.com/u/abc123>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["X-Nurture-Campaign"] == "trial-nurture"
    assert message["MIME-Version"] == "1.0"
    assert_wire_form(built.data)


def test_the_text_part_comes_before_the_html_part() -> None:
    message = parse(build_message(email()).data)
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert body_of(message, "plain") == "Hallo Jürgen,\nschön, dass Sie da sind.\n"
    assert body_of(message, "html") == "<p>Hallo J&uuml;rgen,</p><p>schön, dass Sie da sind.</p>"


def test_umlauts_are_encoded_words_on_the_wire() -> None:
    data = build_message(email()).data
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert "From: =?utf-8?q?Gr=C3=BC=C3=9Fe_aus_M=C3=BCnchen?= <marketing@example.com>" in head
    assert "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe_aus_M=C3=BCnchen?=" in head


def test_each_message_gets_its_own_message_id() -> None:
    ids = {build_message(email()).message_id for _ in range(200)}
    assert len(ids) == 200


def test_list_unsubscribe_can_offer_a_mailto_as_well() -> None:
    message = parse(
        build_message(email(list_unsubscribe_mailto="mailto:unsubscribe@example.com?subject=u1")).data
    )
    assert (
        message["List-Unsubscribe"]
        == "<https://t.example.com/u/abc123>, <mailto:unsubscribe@example.com?subject=u1>"
    )


def test_reply_to_and_the_bounce_reference(signer: TokenSigner) -> None:
    token = bounce_token(signer, 77)
    message = parse(
        build_message(email(reply_to=Address("sales@example.com", "Anna Schmidt"), bounce_token=token)).data
    )
    assert message["Reply-To"] == "Anna Schmidt <sales@example.com>"
    assert message[BOUNCE_TOKEN_HEADER] == token


def test_the_bounce_address_names_the_message(signer: TokenSigner) -> None:
    address = verp_address(bounce_token(signer, 12345), "bounces.example.com")
    local, _, domain = address.partition("@")
    assert domain == "bounces.example.com"
    assert local.startswith("bounces+") and len(local) <= 64
    assert signer.verify_lowercase("bounce", local.removeprefix("bounces+")) == (12345,)


@pytest.mark.parametrize(
    "hostile",
    [
        "Eve\r\nBcc: victim@example.com",
        "Eve\nBcc: victim@example.com",
        "Eve\rBcc: victim@example.com",
        "Eve\x00\r\n\r\n<script>",
        "Eve\u2028Bcc: victim@example.com",
        "Eve\x85Bcc: victim@example.com",
        'Eve" <evil@example.com>, "Mallory',
    ],
)
def test_lead_data_cannot_add_a_header(hostile: str) -> None:
    built = build_message(email(to=Address("eve@example.com", hostile), subject=hostile))
    message = parse(built.data)
    assert message["Bcc"] is None
    assert len(message.get_all("To") or []) == 1
    assert [a.addr_spec for a in message["To"].addresses] == ["eve@example.com"]
    assert message["Subject"] == clean_header_text(hostile)
    assert message["To"].addresses[0].display_name == clean_header_text(hostile)
    assert_wire_form(built.data)


@pytest.mark.parametrize(
    "address",
    [
        "eve@example.com\r\nBcc: victim@example.com",
        "eve@exa mple.com",
        "<eve@example.com>",
        "eve",
        "j\x85rgen@example.de",  # a C1 control character is not a letter
        "jü rgen@example.de",
        "eve@example.com>, victim@example.com",
    ],
)
def test_unsafe_addresses_are_refused(address: str) -> None:
    with pytest.raises(InvalidAddress):
        Address(address)


def test_a_non_ascii_local_part_is_written_as_utf8_for_smtputf8() -> None:
    assert Address("Jürgen@Müller.de").email == "Jürgen@xn--mller-kva.de"
    field = address_field("To", Address("jürgen@example.de", "Jürgen Müller"))
    assert field == "To: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <jürgen@example.de>\r\n".encode()


def test_international_domains_are_written_in_punycode() -> None:
    assert Address("info@müller.de").email == "info@xn--mller-kva.de"


def test_extra_headers_cannot_replace_our_own() -> None:
    with pytest.raises(HeaderError):
        build_message(email(extra_headers={"Bcc": "victim@example.com"}))
    with pytest.raises(HeaderError):
        build_message(email(extra_headers={"X-Bad\r\nBcc": "x"}))


def test_list_unsubscribe_must_be_an_https_url() -> None:
    with pytest.raises(HeaderError):
        build_message(email(list_unsubscribe="javascript:alert(1)"))
    with pytest.raises(HeaderError):
        build_message(email(list_unsubscribe="https://t.example.com/u/x>, <https://evil.example"))


def test_long_subjects_are_folded() -> None:
    subject = "Ihre persönliche Einladung zum Webinar über Lead-Scoring, Nurturing und Vertriebsübergabe " * 3
    built = build_message(email(subject=subject))
    head = built.data.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    assert parse(built.data)["Subject"] == clean_header_text(subject)


def test_long_names_are_folded() -> None:
    name = "Jürgen Müller-Lüdenscheidt von und zu Großherzogtum Mecklenburg-Vorpommern Überlänge"
    data = build_message(
        email(to=Address("j@example.de", name), reply_to=Address("s@example.com", name))
    ).data
    assert_wire_form(data)
    assert display_name_on_the_wire(data) == name


def test_long_ascii_subjects_fold_at_spaces() -> None:
    subject = "Your personal invitation to our webinar on lead scoring and handing leads to sales " * 2
    data = build_message(email(subject=subject)).data
    head = data.split(b"\r\n\r\n", 1)[0].decode()
    assert "=?" not in head.split("Subject:", 1)[1].split("Message-ID", 1)[0]
    assert parse(data)["Subject"] == subject.strip()


def test_a_text_only_message() -> None:
    data = build_message(email(html="", text="Nur Text, keine Grafik.")).data
    message = parse(data)
    assert message.get_content_type() == "text/plain"
    assert message.get_content().replace("\r\n", "\n") == "Nur Text, keine Grafik."
    assert data.endswith(b"\r\n")


def test_mostly_non_latin_text_is_sent_as_base64() -> None:
    text = "こんにちは、ユルゲンさん。" * 20
    data = build_message(email(text=text, html=f"<p>{text}</p>")).data
    assert b"Content-Transfer-Encoding: base64" in data
    assert body_of(parse(data), "plain") == text


def test_long_lines_get_soft_breaks() -> None:
    html = (
        "<p>" + "Ein sehr langer Absatz ohne Zeilenumbruch, wie ihn Layout-Werkzeuge erzeugen. " * 40 + "</p>"
    )
    data = build_message(email(html=html)).data
    assert_wire_form(data)
    assert body_of(parse(data), "html") == html


header_text = st.text(max_size=120)
body_text = st.text(max_size=1500)


@settings(max_examples=200, deadline=None)
@given(name=header_text, subject=header_text, text=body_text, html=body_text)
def test_any_unicode_reads_back_exactly(name: str, subject: str, text: str, html: str) -> None:
    built = build_message(email(to=Address("lead@example.com", name), subject=subject, text=text, html=html))
    assert_wire_form(built.data)
    message = parse(built.data)
    assert message["Subject"] == clean_header_text(subject)
    (recipient,) = message["To"].addresses
    assert recipient.addr_spec == "lead@example.com"
    assert display_name_on_the_wire(built.data) == clean_header_text(name)
    expected_headers = {
        "Date", "From", "To", "Subject", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post",
        "X-Nurture-Campaign", "MIME-Version", "Content-Type",
    }  # fmt: skip
    if not html:
        expected_headers.add("Content-Transfer-Encoding")
    assert set(message.keys()) == expected_headers
    normalized = lambda value: value.replace("\r\n", "\n").replace("\r", "\n")  # noqa: E731
    if html:
        assert body_of(message, "plain") == normalized(text)
        assert body_of(message, "html") == normalized(html)
    else:
        assert message.get_content().replace("\r\n", "\n") == normalized(text)


@given(value=header_text)
def test_header_fields_are_single_logical_lines(value: str) -> None:
    field = header_field("Subject", value)
    assert field.endswith(b"\r\n")
    for continuation in field[:-2].split(b"\r\n")[1:]:
        assert continuation.startswith(b" ")


def test_dkim_signature_verifies(dkim_key: DkimKey) -> None:
    signer = DkimSigner("nurture", "example.com", dkim_key.private_pem)
    data = build_message(email(), signer).data
    assert data.startswith(b"DKIM-Signature:")
    signature = data.split(b"\r\n\r\n", 1)[0].split(b"DKIM-Signature:", 1)[1].split(b"\r\nDate:", 1)[0]
    signed = signature.replace(b"\r\n", b"").replace(b" ", b"").split(b"h=", 1)[1].split(b";", 1)[0].lower()
    for name in (
        b"from",
        b"to",
        b"subject",
        b"date",
        b"message-id",
        b"list-unsubscribe",
        b"list-unsubscribe-post",
    ):
        assert name in signed.split(b":")
    assert dkim.verify(data, dnsfunc=dkim_key.dns("nurture", "example.com"))
    parse(data)


def test_a_changed_message_fails_dkim(dkim_key: DkimKey) -> None:
    data = build_message(email(), DkimSigner("nurture", "example.com", dkim_key.private_pem)).data
    dns = dkim_key.dns("nurture", "example.com")
    assert not dkim.verify(data.replace(b"Subject: ", b"Subject: Re: ", 1), dnsfunc=dns)
    assert not dkim.verify(data.replace(b"Hallo", b"Hello", 1), dnsfunc=dns)
    # A second From added later breaks the signature too (From is signed once more than it occurs).
    assert not dkim.verify(data.replace(b"\r\nTo:", b"\r\nFrom: ceo@example.com\r\nTo:", 1), dnsfunc=dns)


def test_the_signer_never_shows_its_key(dkim_key: DkimKey) -> None:
    assert b"PRIVATE" not in repr(DkimSigner("s", "example.com", dkim_key.private_pem)).encode()


def test_dkim_settings(tmp_path: Path, dkim_key: DkimKey) -> None:
    assert DkimSigner.from_settings(Settings(), tmp_path, "example.com") is None
    (tmp_path / "dkim.key").write_bytes(dkim_key.private_pem)
    configured = Settings(dkim_selector="nurture", dkim_private_key_file="dkim.key")
    signer = DkimSigner.from_settings(configured, tmp_path, "example.com")
    assert signer is not None and signer.domain == "example.com"
    with pytest.raises(DkimError, match="needs both"):
        DkimSigner.from_settings(Settings(dkim_selector="nurture"), tmp_path, "example.com")
    with pytest.raises(DkimError, match="cannot read"):
        DkimSigner.from_settings(
            Settings(dkim_selector="s", dkim_private_key_file="nope.key"), tmp_path, "x.com"
        )
    with pytest.raises(DkimError, match="cannot sign"):
        DkimSigner(
            "nurture",
            "example.com",
            b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
        )


@pytest.mark.parametrize(
    ("text", "email", "name"),
    [
        ("Nurture Demo <marketing@example.com>", "marketing@example.com", "Nurture Demo"),
        ('"Schmidt, Anna" <anna@example.com>', "anna@example.com", "Schmidt, Anna"),
        ("anna@Example.COM", "anna@example.com", ""),
        ("Jürgen <j@müller.de>", "j@xn--mller-kva.de", "Jürgen"),
    ],
)
def test_addresses_from_settings(text: str, email: str, name: str) -> None:
    address = Address.parse(text)
    assert (address.email, address.name) == (email, name)


qp_text = st.lists(
    st.sampled_from(["Grüße", "a", " ", "\t", "=", ".", "\n", "x" * 37, "ü" * 13, "€", "\x00"]), max_size=80
).map("".join)


@settings(max_examples=300)
@given(text=qp_text, html=qp_text)
def test_quoted_printable_lines_stay_within_76_and_read_back(text: str, html: str) -> None:
    data = build_message(email(text="ä " + text, html="ö " + html)).data
    message = parse(data)
    assert body_of(message, "plain") == "ä " + text
    assert body_of(message, "html") == "ö " + html
    for part in message.iter_parts():
        if part["Content-Transfer-Encoding"] == "quoted-printable":
            lines = part.get_payload(decode=False).replace("\r\n", "\n").split("\n")
            assert all(len(line) <= 76 for line in lines), lines
            assert not any(line.endswith((" ", "\t")) for line in lines), lines


def test_a_line_shared_by_many_emails_is_encoded_the_same_in_each() -> None:
    footer = "Taktwerk GmbH · Hafenstraße 12 · 20457 Hamburg · " + "Deutschland " * 8
    first, second = (
        build_message(email(text=f"Hallo {name},\n{footer}\n", html=f"<p>{name}</p>\n{footer}")).data
        for name in ("Jürgen", "Anna")
    )
    for data, name in ((first, "Jürgen"), (second, "Anna")):
        assert body_of(parse(data), "plain") == f"Hallo {name},\n{footer}\n"
    encoded_footer = first.split(b"Hallo J=C3=BCrgen,\r\n", 1)[1].split(b"\r\n\r\n--", 1)[0]
    assert encoded_footer in second


@pytest.mark.parametrize("text", ["ä" + "x" * 70, "x" * 76, "x" * 73 + "ü", "x" * 74 + "=", "y" * 75 + " "])
def test_a_text_only_body_with_a_full_last_line_keeps_every_line_within_76(text: str) -> None:
    data = build_message(email(html="", text=text)).data
    body = data.split(b"\r\n\r\n", 1)[1]
    assert body.endswith(b"\r\n")
    assert all(len(line) <= 76 for line in body.split(b"\r\n")), body
    assert parse(data).get_content() == text
