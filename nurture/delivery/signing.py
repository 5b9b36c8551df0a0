"""DKIM signatures, so receivers can tell the sending domain really sent the message.

Most relays sign on their own; sign here when yours does not. RSA signing costs about a
millisecond per message, which is the largest single cost of building a message when enabled.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import dkim

from nurture.errors import NurtureError

if TYPE_CHECKING:
    from nurture.settings import Settings

DKIM_SIGNED_HEADERS = (
    "From", "To", "Subject", "Date", "Message-ID", "Reply-To", "List-Unsubscribe",
    "List-Unsubscribe-Post", "MIME-Version", "Content-Type",
)  # fmt: skip
# Signing From and Subject once more than they occur makes a header added later break the signature.
_OVERSIGNED = (b"From", b"Subject")
_PROBE = b"From: probe@example.com\r\nSubject: probe\r\n\r\nprobe\r\n"


class DkimError(NurtureError):
    """The DKIM key or settings cannot be used."""


class DkimSigner:
    """Adds a DKIM-Signature (RSA-SHA256, relaxed/simple canonicalization) for ``domain``."""

    def __init__(self, selector: str, domain: str, private_key: bytes) -> None:
        self.selector = selector
        self.domain = domain
        self._private_key = private_key
        try:
            self.sign(_PROBE)  # a bad key fails now, at start-up, not on the first message
        except DkimError as exc:
            raise DkimError(f"DKIM key for {selector}._domainkey.{domain} cannot sign: {exc}") from None

    def __repr__(self) -> str:
        return f"DkimSigner(selector={self.selector!r}, domain={self.domain!r})"

    @classmethod
    def from_settings(cls, settings: Settings, workspace_root: Path, domain: str) -> DkimSigner | None:
        """The signer ``dkim_selector`` and ``dkim_private_key_file`` describe, or None when unset."""
        if not settings.dkim_selector and not settings.dkim_private_key_file:
            return None
        if not settings.dkim_selector or not settings.dkim_private_key_file:
            raise DkimError("DKIM signing needs both dkim_selector and dkim_private_key_file")
        path = Path(settings.dkim_private_key_file).expanduser()
        if not path.is_absolute():
            path = workspace_root / path
        try:
            key = path.read_bytes()
        except OSError as exc:
            raise DkimError(f"cannot read the DKIM key {path}: {exc.strerror or exc}") from None
        return cls(settings.dkim_selector, domain, key)

    def sign(self, data: bytes) -> bytes:
        """``data`` with a DKIM-Signature header prepended."""
        present = {line.split(b":", 1)[0].strip().lower() for line in _header_lines(data)}
        include = [name.encode("ascii") for name in DKIM_SIGNED_HEADERS if name.lower().encode() in present]
        try:
            signature: bytes = dkim.sign(
                data,
                self.selector.encode("ascii"),
                self.domain.encode("ascii"),
                self._private_key,
                canonicalize=(b"relaxed", b"simple"),
                include_headers=[*include, *_OVERSIGNED],
            )
        except dkim.DKIMException as exc:
            raise DkimError(str(exc)) from None
        return signature + data


def _header_lines(data: bytes) -> list[bytes]:
    head = data.split(b"\r\n\r\n", 1)[0]
    return [line for line in head.split(b"\r\n") if line and line[:1] not in (b" ", b"\t")]
