"""The ``imaps://`` and ``imap://`` forms of the ``bounce_mailbox`` setting.

::

    imaps://USER:PASS@HOST[:993]/MAILBOX[?processed=FOLDER|delete&ca_file=PATH&verify=true&timeout=30]
    imap://USER:PASS@HOST[:143]/MAILBOX[?tls=starttls|none&...]

``imaps://`` speaks TLS from the first byte. ``imap://`` must switch to TLS with STARTTLS before the
password is sent, and a server that does not offer it is refused: whoever sits between the two can
strip the offer, so "STARTTLS when offered" would hand them the password. ``tls=none`` (plain text)
is for a server on the same machine. Certificates are checked against the system's CAs, or
``ca_file``, unless ``verify=false``. ``MAILBOX`` defaults to ``INBOX``; a processed message is moved
to ``processed`` (default ``nurture-processed``, created when missing), or with ``processed=delete``
deleted. A password with ``@ : / ? #`` in it is written percent-encoded.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from nurture.delivery.bounce_mailbox.base import BounceMailboxError
from nurture.delivery.tls import client_tls_context
from nurture.delivery.transports import redact_url

TlsMode = Literal["implicit", "starttls", "none"]
DELETE = "delete"
PROCESSED_FOLDER = "nurture-processed"
_OPTIONS = ("tls", "processed", "ca_file", "verify", "timeout")
_PORTS = {"implicit": 993, "starttls": 143, "none": 143}
_FLAGS = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
}


@dataclass(frozen=True)
class ImapMailboxSettings:
    """Where the bounce mailbox is and how to reach it. The password never appears in ``repr``."""

    host: str
    port: int
    username: str
    password: str = field(repr=False)
    mailbox: str = "INBOX"
    tls: TlsMode = "implicit"
    processed: str = PROCESSED_FOLDER
    """The folder processed messages are moved to, or ``delete``."""
    ca_file: str | None = None
    verify: bool = True
    timeout: float = 30.0

    def describe(self) -> str:
        """``imaps://user@host:port/MAILBOX`` (``imap://...?tls=...`` without TLS from the start)."""
        scheme = "imaps" if self.tls == "implicit" else "imap"
        options = "" if self.tls == "implicit" else f"?tls={self.tls}"
        return f"{scheme}://{self.username}@{self.host}:{self.port}/{self.mailbox}{options}"

    def tls_context(self) -> ssl.SSLContext | None:
        """The TLS settings to connect with: certificates checked unless ``verify`` is off."""
        return None if self.tls == "none" else client_tls_context(self.ca_file, self.verify)


def parse_imap_url(url: str, workspace_root: Path) -> ImapMailboxSettings:
    """:class:`ImapMailboxSettings` from an ``imaps://`` or ``imap://`` URL (errors never show the
    password)."""
    shown = f"bounce_mailbox {redact_url(url)!r}"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise BounceMailboxError(f"{shown}: not a valid IMAP URL (port must be a number 1-65535)") from None
    if not parts.hostname or parts.username is None or parts.password is None:
        raise BounceMailboxError(
            f"{shown}: name the user, password and server, e.g. imaps://bounces:PASSWORD@mail.example.com/INBOX"
        )
    options = _options(parts.query, shown)
    tls = options.get("tls", "implicit" if parts.scheme.lower() == "imaps" else "starttls")
    if tls not in _PORTS:
        raise BounceMailboxError(f"{shown}: tls must be starttls, implicit or none, not {tls!r}")
    mailbox = unquote(parts.path.lstrip("/")) or "INBOX"
    processed = options.get("processed", PROCESSED_FOLDER)
    if not processed or processed == mailbox:
        raise BounceMailboxError(f"{shown}: processed must name another folder than {mailbox!r}, or 'delete'")
    return ImapMailboxSettings(
        host=parts.hostname,
        port=port or _PORTS[tls],
        username=unquote(parts.username),
        password=unquote(parts.password),
        mailbox=mailbox,
        tls=tls,  # type: ignore[arg-type]
        processed=processed,
        ca_file=_ca_file(options.get("ca_file"), workspace_root, shown),
        verify=_flag(options.get("verify", "true"), "verify", shown),
        timeout=_seconds(options.get("timeout", "30"), shown),
    )


def _options(query: str, shown: str) -> dict[str, str]:
    try:
        parsed = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise BounceMailboxError(f"{shown}: cannot read the options after '?'") from None
    unknown = sorted(set(parsed) - set(_OPTIONS))
    if unknown:
        raise BounceMailboxError(f"{shown}: unknown option {unknown[0]!r} (known: {', '.join(_OPTIONS)})")
    return {key: values[-1] for key, values in parsed.items()}


def _ca_file(value: str | None, workspace_root: Path, shown: str) -> str | None:
    if value is None:
        return None
    path = Path(value).expanduser()
    path = path if path.is_absolute() else workspace_root / path
    if not path.is_file():
        raise BounceMailboxError(f"{shown}: ca_file {path} does not exist")
    return str(path)


def _flag(value: str, name: str, shown: str) -> bool:
    if value.lower() not in _FLAGS:
        raise BounceMailboxError(f"{shown}: {name} must be true or false, not {value!r}")
    return _FLAGS[value.lower()]


def _seconds(value: str, shown: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise BounceMailboxError(f"{shown}: timeout must be a number of seconds, not {value!r}") from None
    if not seconds > 0:
        raise BounceMailboxError(f"{shown}: timeout must be more than 0 seconds")
    return seconds
