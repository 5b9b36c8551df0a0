"""E-mail addresses: syntax check, normalisation and the suppression hash."""

from __future__ import annotations

import hashlib
import re

# A practical RFC 5321/5322 subset: dot-atom local part, LDH domain labels, an alphabetic or
# punycode top-level label. Quoted local parts and IP literals are refused: no relay takes them
# for marketing mail and they are the usual shape of typos and abuse.
_LOCAL = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_TLD = r"(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})"
# Groups: the local part, the domain. Also used on its own by the CSV fast path (csv_rows).
ADDRESS = re.compile(rf"^({_LOCAL})@((?:{_LABEL}\.)+{_TLD})$")


class InvalidAddress(ValueError):
    """The text is not an e-mail address nurture can send to."""


def normalise_email(raw: str) -> str:
    """Trimmed and lower-cased, with an internationalised domain in its ASCII (punycode) form."""
    text = raw.strip().lower()
    if not text:
        raise InvalidAddress("e-mail is empty")
    if any(ch in text for ch in "\r\n\t\0 "):
        raise InvalidAddress(f"{raw.strip()!r} is not an e-mail address (contains white space)")
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise InvalidAddress(f"{raw.strip()!r} is not an e-mail address (expected name@domain)")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidAddress(f"{raw.strip()!r} has an invalid domain") from None
        text = f"{local}@{domain}"
    if not local.isascii():
        raise InvalidAddress(f"{raw.strip()!r}: non-ASCII characters before the @ are not supported")
    if len(local) > 64 or len(text) > 254:
        raise InvalidAddress(f"{raw.strip()!r} is too long for an e-mail address")
    if not ADDRESS.match(text):
        raise InvalidAddress(f"{raw.strip()!r} is not a valid e-mail address")
    return text


def email_domain(normalised: str) -> str:
    return normalised.rpartition("@")[2]


def suppression_hash(normalised: str) -> str:
    """What is kept of an address after erasure: enough to refuse it again, not to read it."""
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()
