"""Commands sent together and their replies read in order (RFC 2920 PIPELINING).

Without pipelining an email costs four round trips to the relay (MAIL, RCPT, DATA, the message);
with it, MAIL FROM, every RCPT TO and DATA go in one write and their replies come back together,
so an email costs two (the envelope, then the message). At 20 ms to the relay that is 40 ms per
email and connection instead of 80.

aiosmtplib (5.x) has no pipelining: its protocol reads one reply per command and drops bytes
that arrive while no command waits, so replies to commands sent together could be lost. While the
replies to a group are read, the connection's transport is handed to a small reader of our own
(``Transport.set_protocol``, public asyncio API) that keeps every byte and splits it into replies;
then the library's protocol gets the transport back, with nothing left unread, before anything
else is sent. The reader passes a lost connection on to the library's protocol, so the client
still knows its connection ended.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import aiosmtplib
from aiosmtplib.protocol import SMTPProtocol

# A reply line is at most 512 octets (RFC 5321 4.5.3.1.5); a group's replies fit well within this.
_MAX_REPLY_BYTES = 64 * 1024


class NoReplies(aiosmtplib.SMTPServerDisconnected):
    """The connection was gone before the relay answered any command of the group: nothing of
    the email reached the relay, and a fresh connection may try again."""


class _GroupReplies(asyncio.Protocol):
    """Reads ``expected`` replies off the transport, keeping every byte."""

    def __init__(self, inner: SMTPProtocol, expected: int) -> None:
        self.inner = inner
        self.expected = expected
        self.replies: list[aiosmtplib.SMTPResponse] = []
        self.buffer = bytearray()
        self.lines: list[bytes] = []
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        if self.done.done():
            return
        self.buffer += data
        if len(self.buffer) > _MAX_REPLY_BYTES:
            self._fail(aiosmtplib.SMTPException("the relay's replies are too long"))
            return
        while len(self.replies) < self.expected:
            end = self.buffer.find(b"\n")
            if end < 0:
                return
            line = bytes(self.buffer[: end + 1])
            del self.buffer[: end + 1]
            if len(line) < 4 or not line[:3].isdigit() or line[3:4] not in (b" ", b"-", b"\r", b"\n"):
                text = line.decode("utf-8", "replace").strip()
                self._fail(aiosmtplib.SMTPException(f"malformed reply line: {text[:80]}"))
                return
            self.lines.append(line[4:].strip(b" \t\r\n"))
            if line[3:4] != b"-":
                text = b"\n".join(self.lines).decode("utf-8", "surrogateescape")
                self.replies.append(aiosmtplib.SMTPResponse(int(line[:3]), text))
                self.lines = []
        if self.buffer:
            # The relay answered more than it was asked: the connection is out of step.
            self._fail(aiosmtplib.SMTPException("the relay sent replies to no command"))
        else:
            self.done.set_result(None)

    def eof_received(self) -> bool:
        self._lost()
        return False  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost()
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def _lost(self) -> None:
        if self.replies:
            self._fail(aiosmtplib.SMTPServerDisconnected("connection lost"))
        else:
            self._fail(NoReplies("connection lost before the relay answered"))

    def _fail(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(exc)
            self.done.exception()  # retrieved here: nobody may be waiting any more


async def send_group(
    client: aiosmtplib.SMTP, commands: Sequence[bytes], timeout: float
) -> list[aiosmtplib.SMTPResponse]:
    """Write ``commands`` (each without its CRLF) in one go and return their replies in order.

    Raises :class:`NoReplies` when the connection is gone before any reply,
    ``SMTPServerDisconnected`` when it ends part way, ``SMTPReadTimeoutError`` when the replies do
    not all come within ``timeout`` seconds, ``SMTPException`` for a garbled reply. After
    any of these the connection must be closed: it is out of step.
    """
    protocol = client.protocol
    transport = protocol.transport if protocol is not None else None
    if protocol is None or not isinstance(transport, asyncio.Transport) or transport.is_closing():
        raise NoReplies("connection lost")
    reader = _GroupReplies(protocol, len(commands))
    transport.set_protocol(reader)
    try:
        transport.write(b"".join(command + b"\r\n" for command in commands))
        async with asyncio.timeout(timeout):
            await reader.done
    except TimeoutError:
        raise aiosmtplib.SMTPReadTimeoutError(
            f"{len(reader.replies)} of {len(commands)} replies within {timeout:g}s"
        ) from None
    finally:
        transport.set_protocol(protocol)
    return reader.replies
