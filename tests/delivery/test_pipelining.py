"""RFC 2920 pipelining: the envelope goes in one write, each reply is judged as if sent alone.

The relay here is a scripted one on loopback: it answers a group of commands only once the whole
group (MAIL, RCPT, DATA) has arrived, so a client that waits for each reply never gets one, and it
writes its replies one packet at a time, so a client that loses bytes between replies hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from aiosmtpd.smtp import Session

from nurture.delivery.transports import HELD_BACK, GoAhead, SendStatus, SmtpTransport

from .conftest import smtp_server
from .test_smtp import Misbehaving, message, run, settings

Answer = Callable[[bytes], bytes]


@dataclass
class Scripted:
    """Replies by command; every read and whether anything of a message was received."""

    answers: dict[bytes, bytes] = field(default_factory=dict)
    reads: list[bytes] = field(default_factory=list)
    messages: list[bytes] = field(default_factory=list)
    closed_in_data: int = 0

    def reply(self, command: bytes) -> bytes:
        verb = command[:4].upper()
        if verb == b"RCPT":
            local = command.split(b"<", 1)[1].split(b"@", 1)[0]
            return self.answers.get(b"RCPT " + local, b"250 2.1.5 ok")
        return self.answers.get(verb, {b"DATA": b"354 go ahead", b"QUIT": b"221 bye"}.get(verb, b"250 ok"))

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 scripted ESMTP\r\n")
        pending: list[bytes] = []
        try:
            while line := await reader.readline():
                self.reads.append(line)
                command = line.rstrip(b"\r\n")
                if command[:4].upper() in (b"EHLO", b"HELO"):
                    writer.write(b"250-scripted\r\n250-PIPELINING\r\n250 SIZE 1000000\r\n")
                    continue
                pending.append(command)
                if command[:4].upper() not in (b"DATA", b"RSET", b"QUIT", b"NOOP"):
                    continue  # MAIL and RCPT are answered with the DATA that ends their group
                for each in pending:  # one packet per reply; an empty answer is none at all
                    if answer := self.reply(each):
                        writer.write(answer + b"\r\n")
                    await writer.drain()
                    await asyncio.sleep(0.001)
                pending = []
                if command.upper() == b"DATA" and self.reply(command).startswith(b"354"):
                    try:
                        content = await reader.readuntil(b"\r\n.\r\n")
                    except asyncio.IncompleteReadError:
                        self.closed_in_data += 1
                        return
                    self.messages.append(content)
                    writer.write(self.answers.get(b"DOT", b"250 2.0.0 queued") + b"\r\n")
                if command.upper() == b"QUIT":
                    return
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def scripted(relay: Scripted) -> AsyncIterator[int]:
    server = await asyncio.start_server(relay.session, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


def test_the_envelope_goes_in_one_group_and_replies_split_over_packets_are_all_read() -> None:
    async def scenario() -> None:
        relay = Scripted(answers={b"MAIL": b"250-first line\r\n250 2.1.0 sender ok"})
        async with scripted(relay) as port:
            transport = SmtpTransport(settings(port, pool_size=1, timeout=2))
            results = [await transport.send(message(i)) for i in range(3)]
            await transport.close()
        assert all(result.accepted for result in results), results
        assert len(relay.messages) == 3
        assert transport.connections_opened == 1  # replies stayed in step: the connection carried on

    run(scenario)


@pytest.mark.parametrize(
    ("answers", "status", "code", "stage"),
    [
        ({b"RCPT juergen": b"550 5.1.1 no such user"}, SendStatus.REJECTED, 550, "rcpt"),
        ({b"RCPT juergen": b"421 4.7.0 slow down"}, SendStatus.RETRY, 421, "rcpt"),
        ({b"MAIL": b"553 5.7.1 sender refused"}, SendStatus.REJECTED, 553, "mail"),
        ({b"MAIL": b"451 4.3.0 try later"}, SendStatus.RETRY, 451, "mail"),
        ({b"DATA": b"554 5.7.1 no thanks"}, SendStatus.REJECTED, 554, "data"),
        ({b"DOT": b"552 5.3.4 too big"}, SendStatus.REJECTED, 552, "data"),
    ],
)
def test_each_reply_in_a_group_maps_to_the_verdict_of_its_command(
    answers: dict[bytes, bytes], status: SendStatus, code: int, stage: str
) -> None:
    async def scenario() -> None:
        relay = Scripted(answers=answers)
        async with scripted(relay) as port:
            transport = SmtpTransport(settings(port, pool_size=1, timeout=2))
            result = await transport.send(message(1))
            await transport.close()
        assert (result.status, result.code, result.stage) == (status, code, stage), result
        assert result.hard_bounce is (code == 550)

    run(scenario)


def test_a_relay_that_takes_data_after_refusing_the_recipient_never_gets_the_message() -> None:
    async def scenario() -> None:
        # RFC 2920 says a relay should refuse DATA when no recipient was accepted; this one does not.
        relay = Scripted(answers={b"RCPT juergen": b"550 5.1.1 no such user"})
        async with scripted(relay) as port:
            transport = SmtpTransport(settings(port, pool_size=1, timeout=2))
            refused = await transport.send(message(1))
            after = await transport.send(message(2, "anna@example.de"))
            await transport.close()
        assert refused.hard_bounce
        assert relay.closed_in_data == 1 and len(relay.messages) == 1  # only anna's, on a new connection
        assert after.accepted and transport.connections_opened == 2

    run(scenario)


def test_a_relay_that_never_answers_the_group_is_a_retry() -> None:
    async def scenario() -> None:
        relay = Scripted(answers={b"DATA": b""})
        async with scripted(relay) as port:
            transport = SmtpTransport(settings(port, pool_size=1, timeout=0.3))
            result = await transport.send(message(1))
            await transport.close()
        assert result.status is SendStatus.RETRY, result
        assert not relay.messages

    run(scenario)


@pytest.mark.parametrize("local", ["unknown", "greylisted", "spam", "busy", "closing", "drop", "fine"])
def test_aiosmtpd_offering_pipelining_gives_the_same_verdicts_as_without(local: str) -> None:
    class Pipelining(Misbehaving):
        async def handle_EHLO(  # noqa: N802 - the name aiosmtpd calls
            self, server: object, session: Session, envelope: object, hostname: str, responses: list[str]
        ) -> list[str]:
            session.host_name = hostname  # a hook of this form takes over what aiosmtpd would set
            return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def send(handler: Misbehaving) -> tuple[object, ...]:
        async with smtp_server(handler) as server:
            transport = SmtpTransport(settings(server.port, pool_size=1, timeout=0.5, data_timeout=0.5))
            result = await transport.send(message(0, f"{local}@example.de"))
            follow_up = await transport.send(message(1, "fine@example.de"))
            await transport.close()
        assert follow_up.accepted, follow_up
        return (result.status, result.code, result.stage)

    async def scenario() -> None:
        assert await send(Pipelining()) == await send(Misbehaving())

    run(scenario)


def test_a_garbled_reply_in_a_group_is_a_retry_on_a_fresh_connection() -> None:
    async def scenario() -> None:
        relay = Scripted(answers={b"RCPT juergen": b"hello there"})
        async with scripted(relay) as port:
            transport = SmtpTransport(settings(port, pool_size=1, timeout=2))
            garbled = await transport.send(message(1))
            after = await transport.send(message(2, "anna@example.de"))
            await transport.close()
        assert garbled.status is SendStatus.RETRY and "malformed reply" in garbled.reason, garbled
        assert after.accepted and transport.connections_opened == 2
        assert relay.closed_in_data == 1 and len(relay.messages) == 1

    run(scenario)


def test_the_message_waits_for_the_go_ahead_and_a_refused_one_never_reaches_the_relay() -> None:
    async def scenario() -> None:
        relay = Scripted()
        asked: list[int] = []

        def go_ahead(answer: bool) -> GoAhead:
            async def ask() -> bool:
                # Asked once the relay took the envelope and waits for the message.
                asked.append(sum(line.upper().startswith(b"DATA") for line in relay.reads))
                return answer

            return ask

        async with scripted(relay) as port:
            transport = SmtpTransport(settings(port, pool_size=1, timeout=2))
            held = await transport.send(message(1), go_ahead(False))
            sent = await transport.send(message(2), go_ahead(True))
            await transport.close()
        assert (held.status, held.reason, held.stage) == (SendStatus.RETRY, HELD_BACK, "data")
        assert sent.accepted, sent
        assert asked == [1, 2]  # each after its DATA had been answered
        assert len(relay.messages) == 1 and b"#2" in relay.messages[0].replace(b"=23", b"#")
        assert relay.closed_in_data == 1  # the relay dropped the held-back transaction
        assert transport.connections_opened == 2

    run(scenario)
