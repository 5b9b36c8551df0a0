"""Asynchronous bounces, complaints and auto-replies arriving at the bounce mailbox.

A message the relay accepted can still fail later; the receiving side then mails a delivery status
notification (RFC 3464) to the envelope sender, ``bounces+TOKEN@domain``. The token names the
message, so the bounce is tied to the message and lead without trusting anything else in it.

Classification, in order: a feedback report (RFC 5965, a spam complaint) is ``complaint``; a DSN is
``hard`` for a 5.x.x status and ``soft`` for 4.x.x (and for 5.2.2, "mailbox full", which clears by
itself); a message from a mailer daemon without a DSN is read for a status code or telling words;
an out-of-office reply is ``auto_reply`` (neither a bounce nor an unsubscribe); the rest is
``unknown``. Only a report whose token verified (``message_ref`` is set) should change a lead:
anyone can mail the bounce address, and a forged bounce must not suppress an address.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from typing import Any

from nurture.delivery.mime import BOUNCE_PURPOSE, BOUNCE_TOKEN_HEADER
from nurture.tokens import InvalidToken, TokenSigner


class BounceKind(enum.StrEnum):
    """What a message in the bounce mailbox is."""

    HARD = "hard"
    SOFT = "soft"
    AUTO_REPLY = "auto_reply"
    COMPLAINT = "complaint"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class BounceReport:
    """What one message in the bounce mailbox says about one of our messages."""

    kind: BounceKind
    message_ref: Any = None
    """The message it is about, from a verified token; None when there was no valid token."""
    recipient: str | None = None
    status: str | None = None
    """The enhanced status code (``5.1.1``) when one was found."""
    diagnostic: str = ""
    forged: bool = False
    """A token was present but did not verify: ignore the report (and perhaps log it)."""
    subject: str = ""


_VERP = re.compile(r"[A-Za-z0-9._-]+\+([A-Za-z2-7]{20,})@", re.ASCII)
_REF_HEADER = re.compile(re.escape(BOUNCE_TOKEN_HEADER) + r":[ \t]*([A-Za-z2-7]{20,})", re.IGNORECASE)
_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_SMTP_REPLY = re.compile(r"(?<!\d)([45])\d\d(?=[ -])")
_RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To")
_DAEMON = re.compile(r"mailer-daemon|postmaster|mail delivery (?:sub)?system", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (?:status notification|failure|has failed)|mail delivery failed|"
    r"returned mail|failure notice|unzustellbar|nicht zustellbar|non remis|non recapitabile",
    re.IGNORECASE,
)
_AUTO_REPLY_SUBJECT = re.compile(
    r"abwesenheitsnotiz|abwesenheit|automatische antwort|out of (?:the )?office|automatic reply|"
    r"auto[- ]?reply|autoreply|auto[- ]?response|r[ée]ponse automatique|absence|risposta automatica|"
    r"respuesta autom[áa]tica|i am away|ich bin (?:nicht im büro|abwesend)|vacation",
    re.IGNORECASE,
)
_HARD_WORDS = re.compile(
    r"user unknown|unknown user|no such (?:user|mailbox|recipient)|does not exist|doesn't exist|"
    r"mailbox (?:unavailable|not found)|invalid (?:recipient|mailbox)|recipient address rejected|"
    r"address rejected|account (?:has been )?disabled|existiert nicht|unbekannt",
    re.IGNORECASE,
)
_SOFT_WORDS = re.compile(
    r"mailbox (?:is )?full|over quota|quota exceeded|temporar|try again|deferred|delayed|"
    r"postfach (?:ist )?voll",
    re.IGNORECASE,
)
_PARSER = BytesParser(policy=policy.default)


def classify_bounce(raw: bytes, signer: TokenSigner) -> BounceReport:
    """Read one message from the bounce mailbox and say what it reports."""
    message = _PARSER.parsebytes(raw)
    subject = _header(message, "Subject")
    message_ref, forged = _find_message(message, raw, signer)
    base = {"message_ref": message_ref, "forged": forged, "subject": subject}

    feedback = _part(message, "message/feedback-report")
    if feedback is not None or _report_type(message) == "feedback-report":
        fields = _fields(feedback)
        recipient = _address(fields.get("original-rcpt-to") or fields.get("removal-recipient") or "")
        return BounceReport(
            BounceKind.COMPLAINT, recipient=recipient, diagnostic=fields.get("feedback-type", ""), **base
        )

    status_part = _part(message, "message/delivery-status")
    if status_part is not None:
        return _from_dsn(status_part, base)

    sender = _header(message, "From")
    if _DAEMON.search(sender) or _BOUNCE_SUBJECT.search(subject):
        return _from_text(_readable_text(message), base)

    if _is_auto_reply(message, subject):
        return BounceReport(BounceKind.AUTO_REPLY, **base)
    return BounceReport(BounceKind.UNKNOWN, **base)


def _find_message(message: EmailMessage, raw: bytes, signer: TokenSigner) -> tuple[Any, bool]:
    """The verified message reference, and whether an invalid token was seen."""
    candidates: list[str] = []
    for name in _RECIPIENT_HEADERS:
        for value in message.get_all(name, []):
            candidates.extend(_VERP.findall(str(value)))
    # The returned original (or its headers) and, for bounces that quote it inline, the whole text.
    text = raw.decode("ascii", "replace")
    candidates.extend(_REF_HEADER.findall(text))
    candidates.extend(_VERP.findall(text))
    seen: set[str] = set()
    forged = False
    for token in candidates:
        lowered = token.lower()
        if lowered in seen:
            continue
        seen.add(lowered)
        try:
            payload = signer.verify_lowercase(BOUNCE_PURPOSE, lowered)
        except InvalidToken:
            forged = True
            continue
        if isinstance(payload, tuple) and len(payload) == 1:
            return payload[0], False
        forged = True
    return None, forged


def _from_dsn(status_part: Message, base: dict[str, Any]) -> BounceReport:
    recipients = [block for block in _blocks(status_part) if "action" in block or "status" in block]
    if not recipients:
        return BounceReport(BounceKind.UNKNOWN, **base)
    # The recipient that failed hardest speaks for the report (we send one recipient per message).
    block = min(recipients, key=_severity)
    status = _STATUS.search(block.get("status", ""))
    code = ".".join(status.groups()) if status else None
    action = block.get("action", "").lower()
    diagnostic = block.get("diagnostic-code", "")
    if code is not None and code[0] in "45":
        kind = _kind_for_status(code)
    elif action == "failed":
        kind = _kind_from_words(diagnostic) or BounceKind.HARD
    elif action == "delayed":
        kind = BounceKind.SOFT
    else:
        kind = BounceKind.UNKNOWN  # delivered, relayed, expanded: a success notice
    recipient = _address(block.get("final-recipient") or block.get("original-recipient") or "")
    return BounceReport(kind, recipient=recipient, status=code, diagnostic=diagnostic, **base)


def _from_text(text: str, base: dict[str, Any]) -> BounceReport:
    status = _STATUS.search(text)
    diagnostic = _diagnostic_line(text, status.start() if status else None)
    if status is not None and status.group(1) in "45":
        code = ".".join(status.groups())
        return BounceReport(_kind_for_status(code), status=code, diagnostic=diagnostic, **base)
    reply = _SMTP_REPLY.search(text)
    if reply is not None:
        kind = BounceKind.HARD if reply.group(1) == "5" else BounceKind.SOFT
        return BounceReport(kind, diagnostic=_diagnostic_line(text, reply.start()), **base)
    kind = _kind_from_words(text) or BounceKind.UNKNOWN
    return BounceReport(kind, diagnostic=diagnostic, **base)


def _kind_for_status(code: str) -> BounceKind:
    if code.startswith("4") or code == "5.2.2":
        return BounceKind.SOFT
    return BounceKind.HARD


def _kind_from_words(text: str) -> BounceKind | None:
    if _HARD_WORDS.search(text):
        return BounceKind.HARD
    if _SOFT_WORDS.search(text):
        return BounceKind.SOFT
    return None


def _severity(block: dict[str, str]) -> int:
    status = block.get("status", "").strip()
    action = block.get("action", "").lower()
    if status.startswith("5") or (action == "failed" and not status.startswith("4")):
        return 0
    if status.startswith("4") or action in ("failed", "delayed"):
        return 1
    return 2


def _is_auto_reply(message: EmailMessage, subject: str) -> bool:
    submitted = _header(message, "Auto-Submitted").lower()
    if submitted and not submitted.startswith("no"):
        return True
    if message.get("X-Autoreply") or message.get("X-Autorespond") or message.get("X-Autoresponder"):
        return True
    if _header(message, "Precedence").lower() == "auto_reply":
        return True
    return bool(_AUTO_REPLY_SUBJECT.search(subject))


def _report_type(message: Message) -> str:
    if message.get_content_type() != "multipart/report":
        return ""
    return str(message.get_param("report-type", "") or "").lower()


def _part(message: Message, content_type: str) -> Message | None:
    for part in message.walk():
        if part.get_content_type() == content_type:
            return part
    return None


def _blocks(part: Message) -> list[dict[str, str]]:
    """The header blocks of a message/delivery-status part, as lower-cased field dictionaries."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [
            {k.lower(): _clean(v) for k, v in block.items()}
            for block in payload
            if isinstance(block, Message)
        ]
    return []


def _fields(part: Message | None) -> dict[str, str]:
    if part is None:
        return {}
    payload = part.get_payload()
    blocks = payload if isinstance(payload, list) else [payload]
    fields: dict[str, str] = {}
    for block in blocks:
        if isinstance(block, Message):
            for key, value in block.items():
                fields.setdefault(key.lower(), _clean(value))
        elif isinstance(block, str):
            for line in block.splitlines():
                key, colon, value = line.partition(":")
                if colon:
                    fields.setdefault(key.strip().lower(), value.strip())
    return fields


def _readable_text(message: Message) -> str:
    texts: list[str] = []
    for part in message.walk():
        if part.get_content_maintype() == "message":
            break  # the returned original follows; its text is not the bounce's
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                texts.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    return "\n".join(texts)


def _diagnostic_line(text: str, position: int | None) -> str:
    if position is None:
        return ""
    start = text.rfind("\n", 0, position) + 1
    end = text.find("\n", position)
    return text[start : end if end >= 0 else len(text)].strip()[:300]


def _address(field: str) -> str | None:
    # "rfc822; someone@example.com"
    value = field.split(";", 1)[-1].strip().strip("<>")
    return value or None


def _header(message: Message, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, TypeError, IndexError):  # a header too broken to decode
        return ""
    return _clean(value) if value is not None else ""


def _clean(value: Any) -> str:
    return " ".join(str(value).split())
