"""The seam between the sender and the world: one message in, one verdict out."""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from nurture.errors import NurtureError

_UNSAFE_ENVELOPE = re.compile(r"[\s<>\x00-\x1f\x7f-\x9f]")

# Asked once the relay is ready for the message itself and before any byte of it goes: True to
# write it, False to hold it back (nothing of it reaches the relay). The sender records that the
# email is on its way while the envelope's round trip is under way, instead of before it.
GoAhead = Callable[[], Awaitable[bool]]
HELD_BACK = "held back by the sender before the relay had any of the message"


class TransportError(NurtureError):
    """A transport URL or setting is wrong (raised when the transport is created)."""


class SendStatus(enum.StrEnum):
    """What became of a message handed to a transport."""

    ACCEPTED = "accepted"
    """The relay (or the Maildir) took the message; it is now the relay's to deliver."""
    RETRY = "retry"
    """Nothing is known to be wrong with the message: try again later (4xx, timeout, lost connection)."""
    REJECTED = "rejected"
    """Refused for good (5xx): do not send this message again."""
    UNKNOWN = "unknown"
    """The whole message reached the relay but its answer did not come back (the connection ended
    or timed out after the final dot): the relay may have kept it. Never sent again by itself."""


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A built message with its envelope. ``message_ref`` is nurture's own id for the message."""

    sender: str
    """Envelope sender (MAIL FROM), e.g. a VERP bounce address; empty for the null sender."""
    recipients: tuple[str, ...]
    data: bytes
    message_ref: Any = None

    def envelope_problem(self) -> str | None:
        """Why the envelope cannot be sent safely (line breaks, spaces, controls), or None.

        Non-ASCII local parts (RFC 6531) are allowed; see :attr:`needs_smtputf8`.
        """
        if not self.recipients:
            return "no recipients"
        for address in (self.sender, *self.recipients):
            if _UNSAFE_ENVELOPE.search(address):
                return f"unsafe envelope address {address!r}"
        if any(not recipient for recipient in self.recipients):
            return "empty recipient address"
        return None

    @property
    def needs_smtputf8(self) -> bool:
        """Whether an envelope address has a non-ASCII local part: only a relay offering the
        SMTPUTF8 extension (RFC 6531) may be given it."""
        return not (self.sender.isascii() and all(r.isascii() for r in self.recipients))


@dataclass(frozen=True, slots=True)
class SendResult:
    """What became of one message.

    ``stage`` says where a refusal happened: ``connect`` (including TLS and AUTH), ``mail``,
    ``rcpt`` or ``data``. Only a ``rcpt`` rejection says the *address* is bad (a hard bounce); a
    ``data`` rejection refuses this message's content; ``mail`` refusals concern the sender.
    """

    status: SendStatus
    code: int | None = None
    reason: str = ""
    stage: str = ""
    refused_recipients: Mapping[str, tuple[int, str]] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        """True when the message is on its way (the relay or the Maildir has it)."""
        return self.status is SendStatus.ACCEPTED

    @property
    def hard_bounce(self) -> bool:
        """True when the recipient address itself was refused permanently."""
        return self.status is SendStatus.REJECTED and self.stage == "rcpt"

    @classmethod
    def ok(cls, reason: str = "", refused: Mapping[str, tuple[int, str]] | None = None) -> SendResult:
        """Accepted; ``refused`` lists recipients refused while others were accepted."""
        return cls(SendStatus.ACCEPTED, 250, reason, "", refused or {})

    @classmethod
    def retry(cls, reason: str, code: int | None = None, stage: str = "") -> SendResult:
        """Not sent this time; nothing says it cannot be sent later."""
        return cls(SendStatus.RETRY, code, reason, stage)

    @classmethod
    def rejected(cls, code: int, reason: str, stage: str) -> SendResult:
        """Refused for good with an SMTP reply ``code`` at ``stage``."""
        return cls(SendStatus.REJECTED, code, reason, stage)

    @classmethod
    def unknown(cls, reason: str) -> SendResult:
        """Handed over whole, answer lost: the relay may or may not deliver it."""
        return cls(SendStatus.UNKNOWN, None, reason, "data")


class Transport(Protocol):
    """Where messages go. Implementations never raise for a message they could not send: they
    return a :class:`SendResult` saying whether to retry."""

    async def send(self, message: OutgoingMessage, go_ahead: GoAhead | None = None) -> SendResult:
        """Hand one message over; with ``go_ahead``, only once it says True (else the result is a
        retry whose reason is :data:`HELD_BACK`, and nothing of the message was handed over)."""
        ...

    async def close(self) -> None:
        """Release connections and files; the transport is not used afterwards."""
        ...

    async def pace(self) -> None:
        """Wait for the rate limit's next turn, so that the next ``send`` goes at once (the sender
        marks a message ``sending`` only when it can go)."""
        ...

    def interrupt(self) -> None:
        """Stop waiting for the relay: every send under way returns at once, ``unknown`` if the
        relay had the whole message, ``retry`` if not (a stop whose time is up)."""
        ...
