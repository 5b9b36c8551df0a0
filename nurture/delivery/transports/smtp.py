"""Hand messages to an SMTP relay over a small pool of reused connections.

Opening a connection (TCP, EHLO, STARTTLS, AUTH) costs several round trips; a marketing send of
thousands of messages reuses ``pool_size`` connections instead, each carrying one transaction at a
time. Where the relay offers PIPELINING (RFC 2920) the envelope (MAIL FROM, RCPT TO, DATA) goes
in one write (:mod:`nurture.delivery.transports.pipelining`): two round trips per email instead of
four. A connection the relay dropped while idle is reopened transparently before anything of the
message was sent. A connection lost or timed out *before* the final dot of DATA is ``retry``: the
relay cannot deliver half a message. One lost or timed out *after* the final dot is ``unknown``:
the relay has the whole message and may well deliver it, so it must not be sent again. The wait
for the answer to the final dot is ``data_timeout`` (10 minutes, as RFC 5321 section 4.5.3.2.6
suggests; relays may scan the message before they answer), cut short only by the connection
ending or by :meth:`SmtpTransport.interrupt` (a stop whose time is up).

Every relay reply is mapped to a :class:`SendResult`: 2xx accepted, 4xx (and timeouts and lost
connections before the final dot) retry, 5xx rejected, with the stage it happened at. Problems of
our own making (connection refused, TLS or AUTH failure) are ``retry`` at stage ``connect``: they
are not the recipient's fault and must never hard-bounce a lead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import aiosmtplib

from nurture.delivery.pacing import TokenBucket
from nurture.delivery.tls import client_tls_context
from nurture.delivery.transports.base import HELD_BACK, GoAhead, OutgoingMessage, SendResult
from nurture.delivery.transports.pipelining import NoReplies, send_group

log = logging.getLogger(__name__)

TlsMode = Literal["starttls", "implicit", "none"]

# Check an idle connection with NOOP before reusing it after this long; relays drop idle clients.
_IDLE_CHECK_SECONDS = 20.0


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to connect. The password never appears in ``repr``."""

    host: str
    port: int
    tls: TlsMode = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0  # per command, and for connecting
    data_timeout: float = 600.0  # for the relay's answer to the final dot (RFC 5321 4.5.3.2.6)
    ca_file: str | None = None
    verify: bool = True
    helo: str | None = None
    pool_size: int = 64  # connections at most (max_connections)
    rate_per_second: float = 0.0

    def describe(self) -> str:
        """``smtp://user@host:port?tls=...`` without the password, for logs and messages."""
        user = f"{self.username}@" if self.username else ""
        return f"smtp://{user}{self.host}:{self.port}?tls={self.tls}"

    def tls_context(self) -> ssl.SSLContext | None:
        """The TLS settings to connect with: certificates verified unless ``verify`` is off."""
        return None if self.tls == "none" else client_tls_context(self.ca_file, self.verify)


class _Refused(Exception):
    """A reply that ends the transaction with a verdict (kept internal to the send path);
    ``drop``: the connection cannot carry another transaction and is closed."""

    def __init__(self, result: SendResult, *, drop: bool = False) -> None:
        super().__init__(result.reason)
        self.result = result
        self.drop = drop


class _Connection:
    """One pooled client and when it was last used."""

    def __init__(self, settings: SmtpSettings, tls_context: ssl.SSLContext | None, helo: str) -> None:
        self.client = aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.port,
            username=settings.username,
            password=settings.password,
            local_hostname=helo,
            timeout=settings.timeout,
            use_tls=settings.tls == "implicit",
            start_tls=settings.tls == "starttls",
            tls_context=tls_context,
        )
        self.last_used = 0.0
        self.connections_opened = 0
        # Where the transaction under way is; "dot" once the relay may have the whole message.
        self.stage = "connect"
        self.failure: SendResult | None = None  # of the last attempt to connect, made by pace()

    @property
    def connected(self) -> bool:
        return self.client.is_connected

    async def open(self) -> None:
        self.client.close()
        await self.client.connect()
        self.connections_opened += 1
        if self.client.is_ehlo_or_helo_needed:
            # Greet now, not inside the first MAIL: transactions then send their commands as they are.
            try:
                await self.client.ehlo()
            except aiosmtplib.SMTPHeloError:
                await self.client.helo()

    def drop(self) -> None:
        self.client.close()


class SmtpTransport:
    """Sends through an SMTP relay with a connection pool, a rate limit and per-command timeouts."""

    def __init__(self, settings: SmtpSettings, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self._tls = settings.tls_context()
        self._bucket = TokenBucket(settings.rate_per_second) if settings.rate_per_second > 0 else None
        self._paced = 0  # turns of the rate limit taken by pace() and not yet used by a send
        self._connections: list[_Connection] = []
        self._idle: asyncio.LifoQueue[_Connection] | None = None
        self._closed = False
        self._under_way: dict[asyncio.Task[object], _Connection] = {}  # sends on a connection
        self._interrupting: set[asyncio.Task[object]] = set()

    def __repr__(self) -> str:
        return f"SmtpTransport({self.settings.describe()}, pool_size={self.settings.pool_size})"

    @property
    def connections_opened(self) -> int:
        """How many connections were opened so far (reconnects included)."""
        return sum(connection.connections_opened for connection in self._connections)

    async def send(self, message: OutgoingMessage, go_ahead: GoAhead | None = None) -> SendResult:
        """Send one message; never raises for a delivery problem. With ``go_ahead`` the envelope
        goes first and the message only once it says True (its round trip to the relay covers
        the sender's own bookkeeping); when it says False the connection is closed before any
        byte of the message, so the relay drops the transaction (a relay in DATA cannot be told
        to forget it otherwise)."""
        if self._closed:
            return SendResult.retry("transport is closed", stage="connect")
        problem = message.envelope_problem()
        if problem is not None:
            return SendResult.rejected(553, problem, "mail")
        if self._paced:
            self._paced -= 1
        elif self._bucket is not None:
            await self._bucket.acquire()
        idle = await self._pool()
        connection = await idle.get()
        task = asyncio.current_task()
        try:
            if self._closed and not connection.connected:
                return SendResult.retry("transport is closed", stage="connect")
            connection.stage = "connect"
            if task is not None:
                self._under_way[task] = connection
            return await self._send_on(connection, message, go_ahead)
        except asyncio.CancelledError:
            if task is None or task not in self._interrupting:
                raise
            task.uncancel()
            connection.drop()
            if connection.stage == "dot":
                return SendResult.unknown("stopped while waiting for the relay's answer to the final dot")
            return SendResult.retry("stopped before the relay had the whole message", stage=connection.stage)
        finally:
            if task is not None:
                self._under_way.pop(task, None)
                self._interrupting.discard(task)
            connection.last_used = self._clock()
            idle.put_nowait(connection)

    async def pace(self) -> None:
        """Get ready for the next :meth:`send`: take the rate limit's turn now (the send uses it
        instead of waiting) and open the connection it will most likely use (the pool hands out
        the last one returned), so what follows the sender's mark is the transaction itself."""
        if self._bucket is not None:
            await self._bucket.acquire()
            self._paced += 1
        if self._closed:
            return
        idle = await self._pool()
        connection = await idle.get()
        try:
            stale = self._clock() - connection.last_used > _IDLE_CHECK_SECONDS
            if connection.connected and stale and await self._still_alive(connection):
                connection.last_used = self._clock()
            if not connection.connected:
                # A failure is kept for the send that follows at once, so it is not tried twice.
                connection.failure = await self._connect(connection)
                connection.last_used = self._clock()
        finally:
            idle.put_nowait(connection)

    def interrupt(self) -> None:
        """End every send under way now (a stop whose time is up): each returns ``unknown`` if the
        relay had the whole message, else ``retry``; its connection is closed."""
        for task in self._under_way:
            if task not in self._interrupting:
                self._interrupting.add(task)
                task.cancel()

    async def close(self) -> None:
        """Let sends under way finish, then say QUIT on every open connection and forget them."""
        self._closed = True
        if self._idle is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.timeout):
                    for _ in self._connections:
                        await self._idle.get()
        for connection in self._connections:
            if connection.connected:
                with contextlib.suppress(TimeoutError, aiosmtplib.SMTPException, OSError):
                    await connection.client.quit(timeout=min(self.settings.timeout, 2.0))
            connection.drop()
            if self._idle is not None:
                self._idle.put_nowait(connection)  # a late sender gets "closed", not a wait forever

    # -- internals -------------------------------------------------------------------------------

    async def _pool(self) -> asyncio.LifoQueue[_Connection]:
        if self._idle is None:
            # The name to greet the relay with (EHLO): looked up once, off the event loop.
            helo = self.settings.helo
            if not helo:
                helo = await asyncio.to_thread(socket.getfqdn)
            if self._idle is not None:  # another send set the pool up meanwhile
                return self._idle
            # Last in, first out: the most recently used connection is the one least likely to
            # have been dropped by the relay for idling.
            self._idle = asyncio.LifoQueue()
            for _ in range(self.settings.pool_size):
                connection = _Connection(self.settings, self._tls, helo)
                self._connections.append(connection)
                self._idle.put_nowait(connection)
        return self._idle

    async def _send_on(
        self, connection: _Connection, message: OutgoingMessage, go_ahead: GoAhead | None
    ) -> SendResult:
        failure, connection.failure = connection.failure, None
        if failure is not None and not connection.connected and self._clock() - connection.last_used < 1.0:
            return failure  # pace() just tried to connect for this send
        reused = connection.connected
        if reused and self._clock() - connection.last_used > _IDLE_CHECK_SECONDS:
            reused = await self._still_alive(connection)
        if not reused:
            failure = await self._connect(connection)
            if failure is not None:
                return failure
        try:
            return await self._transaction(connection, message, go_ahead)
        except _StaleConnection:
            # The relay closed an idle connection before we sent anything: open a fresh one once.
            failure = await self._connect(connection)
            if failure is not None:
                return failure
            try:
                return await self._transaction(connection, message, go_ahead)
            except _StaleConnection as exc:
                return SendResult.retry(f"connection lost: {exc}", stage="mail")

    async def _still_alive(self, connection: _Connection) -> bool:
        try:
            await connection.client.noop()
        except (TimeoutError, aiosmtplib.SMTPException, OSError):
            connection.drop()
            return False
        return True

    async def _connect(self, connection: _Connection) -> SendResult | None:
        where = self.settings.describe()
        try:
            await connection.open()
        except aiosmtplib.SMTPAuthenticationError as exc:
            connection.drop()
            log.error("SMTP login to %s refused: %s %s", where, exc.code, exc.message)
            return SendResult.retry(
                f"login refused by {where}: {exc.code} {exc.message}", exc.code, "connect"
            )
        except aiosmtplib.SMTPResponseException as exc:
            connection.drop()
            return SendResult.retry(
                f"{where} refused the connection: {exc.code} {exc.message}", exc.code, "connect"
            )
        except aiosmtplib.SMTPTimeoutError:
            connection.drop()
            return SendResult.retry(f"timed out connecting to {where}", stage="connect")
        except ssl.SSLError as exc:
            connection.drop()
            log.error("TLS with %s failed: %s", where, exc)
            return SendResult.retry(f"TLS with {where} failed: {exc.reason or exc}", stage="connect")
        except (aiosmtplib.SMTPException, OSError) as exc:
            connection.drop()
            return SendResult.retry(f"cannot connect to {where}: {_reason(exc)}", stage="connect")
        return None

    async def _transaction(
        self, connection: _Connection, message: OutgoingMessage, go_ahead: GoAhead | None
    ) -> SendResult:
        client = connection.client
        connection.stage = "mail"
        try:
            options = [b"SIZE=%d" % len(message.data)] if client.supports_extension("size") else []
            if message.needs_smtputf8:
                if not client.supports_extension("smtputf8"):
                    return SendResult.rejected(553, SMTPUTF8_MISSING, "mail")
                options.append(b"SMTPUTF8")
            # The envelope was checked (OutgoingMessage.envelope_problem: no spaces, controls or
            # line breaks) before anything was written, so addresses go out as they are: the
            # library's mail() and rcpt() would parse each one again, for every message.
            mail = b" ".join((b"FROM:<%s>" % message.sender.encode("utf-8"), *options))
            if client.supports_extension("pipelining"):
                refused = await self._pipelined_envelope(connection, mail, message)
            else:
                refused = await self._envelope_in_turn(connection, mail, message)
            connection.stage = "data"
            if go_ahead is not None and not await _asked(connection, go_ahead):
                return SendResult.retry(HELD_BACK, stage="data")
            response = await _content(connection, message.data, self.settings.data_timeout)
        except _AnswerLost as lost:
            connection.drop()
            return SendResult.unknown(
                f"{lost} after the final dot: the relay has the whole message and may deliver it"
            )
        except _Refused as refusal:
            if refusal.drop:
                connection.drop()
            else:
                await _reset(client)
            return refusal.result
        except aiosmtplib.SMTPResponseException as exc:
            await _reset(client)
            return _verdict(exc.code, exc.message, _stage(connection))
        except asyncio.CancelledError:
            connection.drop()  # the reply we gave up on would be mistaken for the next one
            raise
        except (aiosmtplib.SMTPException, OSError, ValueError) as exc:
            connection.drop()
            return _failed(exc, _stage(connection))
        return SendResult.ok(response.message, refused)

    async def _envelope_in_turn(
        self, connection: _Connection, mail: bytes, message: OutgoingMessage
    ) -> dict[str, tuple[int, str]]:
        """MAIL FROM, each RCPT TO and DATA, each waiting for its reply (a relay without PIPELINING)."""
        client = connection.client
        try:
            _expect(await client.execute_command(b"MAIL", mail), 250)
        except aiosmtplib.SMTPServerDisconnected as exc:
            raise _StaleConnection(str(exc)) from None
        connection.stage = "rcpt"
        refused = await self._recipients(client, message.recipients)
        connection.stage = "data"
        _expect(await client.execute_command(b"DATA"), 354)
        return refused

    async def _recipients(
        self, client: aiosmtplib.SMTP, recipients: tuple[str, ...]
    ) -> dict[str, tuple[int, str]]:
        replies = []
        for recipient in recipients:
            replies.append(await client.execute_command(b"RCPT", b"TO:<%s>" % recipient.encode("utf-8")))
        return _recipient_replies(recipients, replies)

    async def _pipelined_envelope(
        self, connection: _Connection, mail: bytes, message: OutgoingMessage
    ) -> dict[str, tuple[int, str]]:
        """MAIL FROM, every RCPT TO and DATA in one write (RFC 2920); each reply judged in turn,
        as if the commands had gone one by one. Returns the recipients refused while others were
        accepted; raises :class:`_Refused` with the verdict of the first refusal that ends the
        transaction."""
        rcpts = [b"RCPT TO:<%s>" % recipient.encode("utf-8") for recipient in message.recipients]
        try:
            commands = [b"MAIL " + mail, *rcpts, b"DATA"]
            replies = await send_group(connection.client, commands, self.settings.timeout)
        except NoReplies as exc:
            raise _StaleConnection(str(exc)) from None
        mail_reply, data_reply = replies[0], replies[-1]
        # A relay that took DATA (354) now reads the message: an email refused before it must not
        # be followed by anything, so the connection is closed rather than reset.
        reading = data_reply.code == 354
        if mail_reply.code != 250:
            raise _Refused(_verdict(mail_reply.code, mail_reply.message, "mail"), drop=reading)
        connection.stage = "rcpt"
        try:
            refused = _recipient_replies(message.recipients, replies[1:-1])
        except _Refused as refusal:
            refusal.drop = reading
            raise
        if not reading:
            raise _Refused(_verdict(data_reply.code, data_reply.message, "data"))
        return refused


SMTPUTF8_MISSING = (
    "the relay does not offer SMTPUTF8, which an address with non-ASCII characters before the @ needs"
)


class _StaleConnection(Exception):
    pass


class _AnswerLost(Exception):
    """The connection ended, or the wait ran out, after the final dot was written."""


def _recipient_replies(
    recipients: tuple[str, ...], replies: list[aiosmtplib.SMTPResponse]
) -> dict[str, tuple[int, str]]:
    """The recipients refused, from the replies to their RCPT TO; :class:`_Refused` when all were."""
    refused = {
        recipient: (reply.code, reply.message)
        for recipient, reply in zip(recipients, replies, strict=True)
        if reply.code not in (250, 251)
    }
    if refused and len(refused) == len(recipients):
        # Every recipient refused: a temporary refusal of any one of them makes it a retry.
        code, text = min(refused.values(), key=lambda reply: reply[0])
        raise _Refused(_verdict(code, text, "rcpt"))
    return refused


async def _content(connection: _Connection, data: bytes, answer_timeout: float) -> aiosmtplib.SMTPResponse:
    """The message after the relay's 354, and its verdict on it (waited for up to ``answer_timeout``).

    The library's ``data()`` runs two regular expressions over every message to fix line ends and
    double leading dots; the messages nurture builds already end every line in CRLF, so only the
    dots are doubled here (byte replaces, a fraction of the cost), and a message with any other
    line ends still gets the full treatment.
    """
    client = connection.client
    protocol = client.protocol
    if protocol is None:
        raise aiosmtplib.SMTPServerDisconnected("connection lost")
    protocol.write(_transparent(data))
    connection.stage = "dot"  # from here on the relay may have the whole message
    try:
        response = await protocol.read_response(timeout=answer_timeout)
    except aiosmtplib.SMTPServerDisconnected as exc:
        client.close()  # as the library does: a reply given up on must not answer the next command
        raise _AnswerLost(f"connection lost ({_reason(exc)})") from None
    except aiosmtplib.SMTPTimeoutError:
        client.close()
        raise _AnswerLost(f"no answer within {answer_timeout:g}s") from None
    return _expect(response, 250)


async def _asked(connection: _Connection, go_ahead: GoAhead) -> bool:
    """The sender's go-ahead for a message the relay waits for (after its 354); when it is not
    given (or asking fails) the connection is closed: the relay drops the half-begun transaction."""
    try:
        going = await go_ahead()
    except BaseException:
        connection.drop()
        raise
    if not going:
        connection.drop()
    return going


def _transparent(data: bytes) -> bytes:
    """The message as DATA carries it (RFC 5321 4.5.2): CRLF line ends, leading dots doubled,
    and the final ``.`` line."""
    crlf = data.count(b"\r\n")
    if data.count(b"\n") != crlf or data.count(b"\r") != crlf:
        data = _LINE_END.sub(b"\r\n", data)
    if data.startswith(b"."):
        data = b"." + data
    data = data.replace(b"\r\n.", b"\r\n..")
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


_LINE_END = re.compile(rb"\r\n|\n|\r")


def _expect(reply: aiosmtplib.SMTPResponse, code: int) -> aiosmtplib.SMTPResponse:
    """The reply, if it has the code that lets the transaction go on; else it is raised."""
    if reply.code != code:
        raise aiosmtplib.SMTPResponseException(reply.code, reply.message)
    return reply


def _stage(connection: _Connection) -> str:
    """Where the transaction was for a verdict: a refusal of the final dot is one of the data."""
    return "data" if connection.stage == "dot" else connection.stage


def _failed(exc: BaseException, stage: str) -> SendResult:
    """A timeout, a lost connection or a protocol error before the final dot: try again later."""
    if isinstance(exc, aiosmtplib.SMTPTimeoutError):
        return SendResult.retry(f"timed out waiting for the relay during {stage.upper()}", stage=stage)
    if isinstance(exc, (aiosmtplib.SMTPServerDisconnected, ConnectionError, OSError)):
        return SendResult.retry(f"connection lost during {stage.upper()}: {_reason(exc)}", stage=stage)
    return SendResult.retry(f"SMTP error during {stage.upper()}: {_reason(exc)}", stage=stage)


def _verdict(code: int, text: str, stage: str) -> SendResult:
    if 500 <= code < 600:
        return SendResult.rejected(code, text, stage)
    return SendResult.retry(f"{code} {text}", code, stage)


async def _reset(client: aiosmtplib.SMTP) -> None:
    """RSET after a refused transaction so the connection can carry the next message."""
    if not client.is_connected:
        return
    try:
        await client.rset()
    except (TimeoutError, aiosmtplib.SMTPException, OSError):
        client.close()


def _reason(exc: BaseException) -> str:
    return getattr(exc, "message", None) or str(exc) or type(exc).__name__
