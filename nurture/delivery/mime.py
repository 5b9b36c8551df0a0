"""RFC 5322 / MIME messages written straight to bytes.

Python's ``email`` package re-parses and re-folds every header through its policy machinery, which
caps it at a few hundred messages a second. A marketing email has one fixed shape (a
multipart/alternative of a text and an HTML part, or a single text part), so nurture writes that
shape directly: headers from :mod:`nurture.delivery.headers`, bodies as quoted-printable (base64
when most of the text is non-Latin), CRLF everywhere, body lines of at most 76 octets and headers
folded at 78 wherever they have a space to fold at. The tests check every form against
``email.policy.strict``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from functools import lru_cache
from typing import Any, Protocol

from nurture.delivery.headers import (
    Address,
    HeaderError,
    address_field,
    check_header_name,
    header_field,
    raw_field,
)
from nurture.tokens import TokenSigner

BOUNCE_TOKEN_HEADER = "X-Nurture-Ref"  # noqa: S105 - a header name, not a secret
"""Carries the bounce token in the message itself, for bounces and complaints that quote it."""

BOUNCE_PURPOSE = "bounce"

_RESERVED_HEADERS = frozenset(
    name.lower()
    for name in (
        "Date", "From", "To", "Cc", "Bcc", "Reply-To", "Subject", "Message-ID", "MIME-Version",
        "Content-Type", "Content-Transfer-Encoding", "List-Unsubscribe", "List-Unsubscribe-Post",
        "Return-Path", "Sender", "DKIM-Signature", BOUNCE_TOKEN_HEADER,
    )
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Email:
    """What goes into one message. ``list_unsubscribe`` is required for marketing mail.

    ``html`` may be empty for a text-only message. ``extra_headers`` are unstructured fields such
    as ``X-Nurture-Campaign``; names that the builder writes itself are refused.
    """

    sender: Address
    to: Address
    subject: str
    text: str
    html: str
    date: datetime
    list_unsubscribe: str | None = None
    list_unsubscribe_mailto: str | None = None
    reply_to: Address | None = None
    message_id: str | None = None
    bounce_token: str | None = None
    extra_headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BuiltMessage:
    """The wire form of a message and its Message-ID (angle brackets included)."""

    message_id: str
    data: bytes


class Signer(Protocol):
    """Signs a finished message (DKIM): returns it with its signature header added."""

    def sign(self, data: bytes) -> bytes: ...


def new_message_id(domain: str) -> str:
    """A fresh, globally unique ``<random@domain>``."""
    return f"<{secrets.token_hex(16)}@{domain}>"


def bounce_token(signer: TokenSigner, message_ref: Any) -> str:
    """The token naming a message in its bounce address and its :data:`BOUNCE_TOKEN_HEADER`.

    Signed with purpose ``bounce`` in lowercase base32, because relays may fold the case of an
    address's local part.
    """
    return signer.sign_lowercase(BOUNCE_PURPOSE, (message_ref,))


def verp_address(token: str, domain: str, local_part: str = "bounces") -> str:
    """The envelope sender ``bounces+TOKEN@domain``: bounces come back to it naming the message.

    RFC 5321 limits a local part to 64 octets, which a short (integer) message reference keeps
    well within.
    """
    local = f"{local_part}+{token}"
    if len(local) > 64:
        raise HeaderError(
            f"bounce address local part is {len(local)} octets (limit 64): use a shorter message id"
        )
    return f"{local}@{domain}"


def build_message(email: Email, dkim: Signer | None = None) -> BuiltMessage:
    """The message as bytes ready for SMTP or a Maildir (CRLF line ends, 7-bit clean)."""
    message_id = email.message_id or new_message_id(email.sender.domain)
    head = [
        _date_field(email.date),
        _sender_field("From", email.sender),
        address_field("To", email.to),
    ]
    if email.reply_to is not None:
        head.append(_sender_field("Reply-To", email.reply_to))
    head.append(header_field("Subject", email.subject))
    head.append(raw_field("Message-ID", message_id))
    head.extend(_list_unsubscribe(email))
    if email.bounce_token:
        head.append(raw_field(BOUNCE_TOKEN_HEADER, email.bounce_token))
    head.extend(_extra_headers(tuple(email.extra_headers.items())))
    head.append(b"MIME-Version: 1.0\r\n")

    text_type, text_body = _encode_body(email.text)
    if email.html:
        html_type, html_body = _encode_body(email.html)
        boundary = "=_" + secrets.token_hex(12)
        body = b"".join(
            (
                f'--{boundary}\r\nContent-Type: text/plain; charset="utf-8"\r\n'.encode("ascii"),
                text_type, b"\r\n", text_body,
                f'\r\n--{boundary}\r\nContent-Type: text/html; charset="utf-8"\r\n'.encode("ascii"),
                html_type, b"\r\n", html_body,
                f"\r\n--{boundary}--\r\n".encode("ascii"),
            )
        )  # fmt: skip
        # "=_" never occurs in quoted-printable or base64 output, so the boundary cannot collide.
        head.append(f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n'.encode("ascii"))
    else:
        head.append(b'Content-Type: text/plain; charset="utf-8"\r\n')
        text_type, body = _ending_in_crlf(text_type, text_body)
        head.append(text_type)
    data = b"".join(head) + b"\r\n" + body
    if dkim is not None:
        data = dkim.sign(data)
    return BuiltMessage(message_id=message_id, data=data)


@lru_cache(maxsize=256)
def _date_field(date: datetime) -> bytes:
    # A batch shares one "now"; formatting it once per batch, not per message.
    return raw_field("Date", format_datetime(date))


def _list_unsubscribe(email: Email) -> list[bytes]:
    if not email.list_unsubscribe:
        return []
    if not email.list_unsubscribe.startswith(("https://", "http://")):
        raise HeaderError("List-Unsubscribe needs an http(s) URL for one-click unsubscribe (RFC 8058)")
    urls = [email.list_unsubscribe]
    if email.list_unsubscribe_mailto:
        if not email.list_unsubscribe_mailto.startswith("mailto:"):
            raise HeaderError("the List-Unsubscribe mail address must be a mailto: URL")
        urls.append(email.list_unsubscribe_mailto)
    if any(char in url for url in urls for char in "<>, "):
        raise HeaderError("List-Unsubscribe targets must be URLs without spaces, commas or angle brackets")
    return [
        raw_field("List-Unsubscribe", ", ".join(f"<{url}>" for url in urls)),
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
    ]


# The sender's own fields and a step's extra headers are the same in every email of a send:
# written once per value (the fields are whole functions of the values they are kept by).
@lru_cache(maxsize=256)
def _sender_field(name: str, address: Address) -> bytes:
    return address_field(name, address)


@lru_cache(maxsize=1024)
def _extra_headers(items: tuple[tuple[str, str], ...]) -> tuple[bytes, ...]:
    fields = []
    for name, value in items:
        check_header_name(name)
        if name.lower() in _RESERVED_HEADERS:
            raise HeaderError(f"{name} is written by nurture itself and cannot be set as an extra header")
        fields.append(header_field(name, value))
    return tuple(fields)


def _encode_body(text: str) -> tuple[bytes, bytes]:
    """(Content-Transfer-Encoding line, encoded body) for ``text`` with normalised CRLF line ends."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.isascii():
        raw = text.replace("\n", "\r\n").encode("ascii")
        if _short_lines(raw) and b"\x00" not in raw and not _trailing_space(raw):
            return b"Content-Transfer-Encoding: 7bit\r\n", raw
        return _QUOTED_PRINTABLE, _quoted_printable_lines(text)
    # Quoted-printable triples each non-ASCII octet, base64 grows everything by a third: base64
    # pays once more than a sixth of the octets are non-ASCII. Each non-ASCII character adds one
    # to three octets to the length, so twice the growth estimates the non-ASCII octets.
    raw = text.encode("utf-8")
    if (len(raw) - len(text)) * 12 > len(raw) + text.count("\n"):
        encoded = base64.encodebytes(raw.replace(b"\n", b"\r\n")).replace(b"\n", b"\r\n")
        return b"Content-Transfer-Encoding: base64\r\n", encoded.rstrip(b"\r\n")
    return _QUOTED_PRINTABLE, _quoted_printable_lines(text)


_QUOTED_PRINTABLE = b"Content-Transfer-Encoding: quoted-printable\r\n"

# Encoded lines by their text. Quoted-printable encodes each line on its own, and most lines of a
# campaign's emails are the same for every lead (layout, copy, footer), so a send encodes them
# once instead of once per email: the standard library's encoder costs about 10 µs a kilobyte.
# Lines unique to one email (a greeting, a tracked link) pass through and are dropped when the
# table is full.
_ENCODED_LINES: dict[str, bytes] = {}
_ENCODED_LINES_LIMIT = 8192


def _quoted_printable_lines(text: str) -> bytes:
    """``text`` (LF line ends) as quoted-printable with CRLF line ends, one line at a time.

    Every encoded line is at most 76 characters; a line that ends in a space or tab ends in an
    encoded one, so no relay can strip it.
    """
    lines = text.split("\n")
    encoded = list(map(_ENCODED_LINES.get, lines))  # the known lines, without a Python loop
    with contextlib.suppress(ValueError):  # raised once no line is left to encode
        at = encoded.index(None)
        while True:
            encoded[at] = _encode_line(lines[at])
            at = encoded.index(None, at + 1)
    return b"\r\n".join(encoded)  # type: ignore[arg-type]  # every None was replaced


def _encode_line(line: str) -> bytes:
    encoded = binascii.b2a_qp(line.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")
    if len(_ENCODED_LINES) >= _ENCODED_LINES_LIMIT:
        _ENCODED_LINES.clear()
    _ENCODED_LINES[line] = encoded
    return encoded


def _ending_in_crlf(transfer_encoding: bytes, body: bytes) -> tuple[bytes, bytes]:
    """A single-part body must end in CRLF: add one without changing the decoded text."""
    if not body or body.endswith(b"\r\n"):
        return transfer_encoding, body
    if b"base64" in transfer_encoding:
        return transfer_encoding, body + b"\r\n"  # decoders skip line breaks in base64
    if b"7bit" in transfer_encoding:
        transfer_encoding, body = (
            _QUOTED_PRINTABLE,
            _quoted_printable_lines(body.decode("ascii").replace("\r\n", "\n")),
        )
    # A soft line break decodes to nothing. Its "=" must fit in the last line's 76 characters:
    # a full last line is broken once more first, never inside an "=XX" escape.
    start = body.rfind(b"\r\n") + 2 if b"\r\n" in body else 0
    if len(body) - start >= 76:
        cut = start + 75
        cut -= 1 if body[cut - 1 : cut] == b"=" else 2 if body[cut - 2 : cut - 1] == b"=" else 0
        body = body[:cut] + b"=\r\n" + body[cut:]
    return transfer_encoding, body + b"=\r\n"


def _short_lines(raw: bytes) -> bool:
    return all(len(line) <= 76 for line in raw.split(b"\r\n"))


def _trailing_space(raw: bytes) -> bool:
    return b" \r\n" in raw or b"\t\r\n" in raw or raw.endswith((b" ", b"\t"))
