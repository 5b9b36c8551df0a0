"""E-mail addresses: syntax check, normalisation and the suppression hash.

The syntax is email-validator's (RFC 5321, and RFC 6531 for addresses with non-ASCII local parts,
IDNA for international domains), without DNS lookups. Quoted local parts and IP literals are
refused: no relay takes them for marketing mail and they are the usual shape of typos and abuse;
so are top-level labels that are not alphabetic (or punycode) and special-use domains (``.test``,
``.invalid``, ...), which no mail reaches.

Most addresses in a lead file are plain ASCII dot-atoms; :data:`ADDRESS` recognises exactly those
the validator accepts unchanged (a property test holds the two together), so they skip the
validator's work.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from nurture.errors import LeadNotFound

_LOCAL = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
# A label with hyphens in its third and fourth places is reserved for IDNA ("xn--"): the validator
# judges those, so the fast path leaves them to it.
_PLAIN_LABEL = rf"(?![a-z0-9-]{{2}}--){_LABEL}"
_TLD = r"(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})"
_DOMAIN = re.compile(rf"^(?:{_LABEL}\.)+{_TLD}$")
_NOT_SPECIAL_USE = rf"(?!(?:{'|'.join(map(re.escape, SPECIAL_USE_DOMAIN_NAMES))})$)"
# Groups: the local part, the domain. Also used on its own by the CSV fast path (csv_rows), with
# the length limits.
ADDRESS = re.compile(rf"^({_LOCAL})@((?:{_PLAIN_LABEL}\.)+{_NOT_SPECIAL_USE}{_TLD})$")


class InvalidAddress(ValueError):
    """The text is not an e-mail address nurture can send to."""


def normalise_email(raw: str) -> str:
    """Trimmed and lower-cased (a non-ASCII local part also in Unicode NFC), with an
    internationalised domain in its ASCII (punycode) form."""
    text = raw.strip().lower()
    if not text:
        raise InvalidAddress("e-mail is empty")
    if any(ch in text for ch in "\r\n\t\0 "):
        raise InvalidAddress(f"{raw.strip()!r} is not an e-mail address (contains white space)")
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise InvalidAddress(f"{raw.strip()!r} is not an e-mail address (expected name@domain)")
    if ADDRESS.match(text) is not None and len(local) <= 64 and len(text) <= 254:
        return text
    try:
        valid = validate_email(text, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise InvalidAddress(f"{raw.strip()!r} is not a valid e-mail address ({exc})") from None
    ascii_domain = valid.ascii_domain.lower()
    if not _DOMAIN.match(ascii_domain):
        raise InvalidAddress(f"{raw.strip()!r} has an invalid domain")
    local = unicodedata.normalize("NFC", valid.local_part).lower()
    if len(local.encode("utf-8")) > 64:
        raise InvalidAddress(f"{raw.strip()!r} is too long for an e-mail address")
    return f"{local}@{ascii_domain}"


def address_of_lead(email: str) -> str:
    """The normalised address of a lead named by a command or a URL. Text that is no address
    names no lead: :class:`LeadNotFound`, as for an address nobody has."""
    try:
        return normalise_email(email)
    except InvalidAddress:
        raise LeadNotFound(email) from None


def email_domain(normalised: str) -> str:
    return normalised.rpartition("@")[2]


def suppression_hash(normalised: str) -> str:
    """What is kept of an address after erasure: enough to refuse it again, not to read it."""
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()
