"""Signed tokens: the only thing standing between a link in an email and a forged click.

Every token in a link (open pixel, click redirect, unsubscribe, sales accept/reject) and in the
bounce address is a payload plus an HMAC-SHA256 tag made with the workspace's secret key. The
*purpose* (``click``, ``unsubscribe``, ...) is mixed into the tag but not written into the token, so
a token signed for one purpose can never be replayed for another and tokens stay short.

Layout of the decoded bytes::

    flags (1 byte) | expiry (4 bytes, only when flagged) | compact JSON payload | tag (16 bytes)

The tag is HMAC-SHA256 truncated to 128 bits (RFC 2104 permits truncation to half the output;
128 bits is far beyond online guessing). Tokens are deterministic: the same key, purpose and
payload give the same token, so links in sent emails keep working across restarts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeAlias

from nurture.errors import NurtureError

Payload: TypeAlias = tuple[Any, ...] | dict[str, Any]
"""What a token carries: a tuple (signed as a JSON array) or a dict (a JSON object) of JSON values."""

TAG_BYTES = 16
_FORMAT_V1 = 0x01
_HAS_EXPIRY = 0x80
_KNOWN_FLAGS = {_FORMAT_V1, _FORMAT_V1 | _HAS_EXPIRY}
_V1 = bytes((_FORMAT_V1,))
_V1_EXPIRING = bytes((_FORMAT_V1 | _HAS_EXPIRY,))
_MIN_SIGNING_KEY = 16

_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_BASE32_LOWER = re.compile(r"[a-z2-7]+")
_PURPOSE = re.compile(r"[a-z][a-z0-9_.-]{0,63}")

# One encoder built once: json.dumps with keyword arguments builds a new encoder on every call.
_encode_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
_encode_string = json.encoder.encode_basestring  # the same string form _encode_json writes


class InvalidToken(NurtureError):
    """A token was changed, truncated, signed for another purpose, expired or is not a token at all."""


class TokenSigner:
    """Signs and verifies tokens bound to a purpose with one secret key."""

    __slots__ = ("_mac", "_purposes")

    def __init__(self, key: bytes) -> None:
        if len(key) < _MIN_SIGNING_KEY:
            raise ValueError("the signing key must be at least 16 bytes")
        # A key derived for tokens alone, so the workspace secret is never used raw for anything.
        derived = hmac.digest(key, b"nurture tokens v1", "sha256")
        self._mac = hmac.new(derived, digestmod=hashlib.sha256)
        # HMAC state with "purpose NUL" already absorbed, one per purpose: copying it is cheaper
        # than re-keying for every token.
        self._purposes: dict[str, hmac.HMAC] = {}

    def __repr__(self) -> str:
        return "TokenSigner(key=<hidden>)"

    # -- signing ---------------------------------------------------------------------------------

    def sign(
        self, purpose: str, payload: Payload | Sequence[Any], *, expires_at: datetime | None = None
    ) -> str:
        """A URL-safe token (base64url, no padding) carrying ``payload`` for ``purpose``."""
        raw = self._seal(purpose, payload, expires_at)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def sign_lowercase(
        self, purpose: str, payload: Payload | Sequence[Any], *, expires_at: datetime | None = None
    ) -> str:
        """A token in lowercase base32, for places where mail systems may change letter case.

        Bounce addresses (``bounces+TOKEN@...``) travel through relays that are allowed to fold
        the case of an address's local part; a case-blind encoding survives that.
        """
        raw = self._seal(purpose, payload, expires_at)
        return base64.b32encode(raw).rstrip(b"=").decode("ascii").lower()

    # -- verifying -------------------------------------------------------------------------------

    def verify(self, purpose: str, token: str, *, now: datetime | None = None) -> Payload:
        """The payload of a token made by :meth:`sign` for ``purpose``; :class:`InvalidToken` otherwise.

        ``now`` is only consulted for tokens signed with an expiry (the system clock when omitted).
        """
        if not isinstance(token, str) or not _BASE64URL.fullmatch(token) or len(token) % 4 == 1:
            raise InvalidToken("not a token")
        padded = token + "=" * (-len(token) % 4)
        try:
            raw = base64.urlsafe_b64decode(padded)
        except (binascii.Error, ValueError):
            raise InvalidToken("not a token") from None
        # Base64 leaves spare bits in the last character; refuse every spelling but the canonical
        # one so that no altered token can still verify.
        if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != token:
            raise InvalidToken("not a token")
        return self._open(purpose, raw, now)

    def verify_lowercase(self, purpose: str, token: str, *, now: datetime | None = None) -> Payload:
        """The payload of a token made by :meth:`sign_lowercase` (case-insensitive)."""
        if not isinstance(token, str):
            raise InvalidToken("not a token")
        lowered = token.lower()
        if not _BASE32_LOWER.fullmatch(lowered) or len(lowered) % 8 in (1, 3, 6):
            raise InvalidToken("not a token")
        padded = lowered.upper() + "=" * (-len(lowered) % 8)
        try:
            raw = base64.b32decode(padded)
        except (binascii.Error, ValueError):
            raise InvalidToken("not a token") from None
        if base64.b32encode(raw).rstrip(b"=").decode("ascii").lower() != lowered:
            raise InvalidToken("not a token")
        return self._open(purpose, raw, now)

    # -- internals -------------------------------------------------------------------------------

    def _tag(self, purpose: str, body: bytes) -> bytes:
        state = self._purposes.get(purpose)
        if state is None:
            if not _PURPOSE.fullmatch(purpose):
                raise ValueError(f"not a token purpose: {purpose!r}")
            state = self._mac.copy()
            state.update(purpose.encode("ascii") + b"\x00")
            self._purposes[purpose] = state
        mac = state.copy()
        mac.update(body)
        return mac.digest()[:TAG_BYTES]

    def _seal(self, purpose: str, payload: Payload | Sequence[Any], expires_at: datetime | None) -> bytes:
        kind = type(payload)
        if kind is tuple:
            data = _compact_tuple(payload)  # type: ignore[arg-type]
        elif kind is dict or kind is list:
            data = _encode_json(payload)
        elif isinstance(payload, Mapping):
            data = _encode_json(dict(payload))
        elif isinstance(payload, Sequence) and not isinstance(payload, str | bytes):
            data = _encode_json(list(payload))
        else:
            raise TypeError("a token payload is a tuple or a dict")
        if expires_at is None:
            body = _V1 + data.encode("utf-8")
        else:
            seconds = min(max(int(_aware(expires_at).timestamp()), 0), 0xFFFFFFFF)
            body = _V1_EXPIRING + seconds.to_bytes(4, "big") + data.encode("utf-8")
        return body + self._tag(purpose, body)

    def _open(self, purpose: str, raw: bytes, now: datetime | None) -> Payload:
        if len(raw) < 1 + TAG_BYTES or raw[0] not in _KNOWN_FLAGS:
            raise InvalidToken("not a token")
        body, tag = raw[:-TAG_BYTES], raw[-TAG_BYTES:]
        try:
            expected = self._tag(purpose, body)
        except ValueError:
            raise InvalidToken("not a token purpose") from None
        if not hmac.compare_digest(expected, tag):
            raise InvalidToken("token signature does not match")
        start = 1
        if body[0] & _HAS_EXPIRY:
            if len(body) < 5:
                raise InvalidToken("not a token")
            expires = int.from_bytes(body[1:5], "big")
            current = _aware(now) if now is not None else datetime.now(UTC)
            if current.timestamp() >= expires:
                raise InvalidToken("token has expired")
            start = 5
        try:
            value = json.loads(body[start:].decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise InvalidToken("not a token") from None
        if isinstance(value, list):
            return tuple(value)
        if isinstance(value, dict):
            return value
        raise InvalidToken("not a token")


def _compact_tuple(payload: tuple[Any, ...]) -> str:
    """JSON for the usual payload (ids and URLs) without the encoder's per-call set-up.

    Writes exactly what ``_encode_json`` writes, so a token never depends on which path made it.
    """
    parts = []
    for item in payload:
        kind = type(item)
        if kind is str:
            parts.append(_encode_string(item))
        elif kind is int:
            parts.append(int.__repr__(item))
        else:
            return _encode_json(payload)
    return "[" + ",".join(parts) + "]"


def _aware(instant: datetime) -> datetime:
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant
