"""The SMTP transport against real aiosmtpd servers, well-behaved and not."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from nurture.delivery.headers import Address
from nurture.delivery.mime import Email, build_message
from nurture.delivery.transports import OutgoingMessage, SendStatus, SmtpSettings, SmtpTransport

from .conftest import Certificates, RecordingHandler, password_authenticator, smtp_server


def message(index: int = 0, recipient: str = "juergen@example.de") -> OutgoingMessage:
    built = build_message(
        Email(
            sender=Address("marketing@example.com", "Example GmbH"),
            to=Address(recipient, "Jürgen Müller"),
            subject=f"Grüße aus München #{index}",
            text="Hallo Jürgen,\n.\nein Punkt allein auf einer Zeile bleibt erhalten.\n",
            html="<p>Hallo J&uuml;rgen</p>",
            date=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
            list_unsubscribe="https://t.example.com/u/x",
        )
    )
    return OutgoingMessage(f"bounces+m{index}@example.com", (recipient,), built.data, index)


def settings(port: int, **overrides: Any) -> SmtpSettings:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "tls": "none",
        "helo": "localhost",
        "timeout": 5.0,
    }
    values.update(overrides)
    return SmtpSettings(**values)


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), timeout=20))


def test_messages_arrive_intact() -> None:
    async def scenario() -> None:
        handler = RecordingHandler()
        async with smtp_server(handler) as server:
            transport = SmtpTransport(settings(server.port))
            sent = message(1)
            result = await transport.send(sent)
            await transport.close()
        assert result.status is SendStatus.ACCEPTED, result
        (received,) = handler.messages
        assert received.mail_from == "bounces+m1@example.com"
        assert received.rcpt_tos == ["juergen@example.de"]
        assert received.data == sent.data  # dot-stuffing undone, nothing added or lost
        parsed = BytesParser(policy=policy.strict).parsebytes(received.data)
        assert parsed["Subject"] == "Grüße aus München #1"
        assert parsed.get_body(("plain",)).get_content().startswith("Hallo Jürgen,\r\n.\r\n")  # type: ignore[union-attr]

    run(scenario)


def test_line_ends_and_leading_dots_are_made_safe_for_data() -> None:
    async def scenario() -> None:
        handler = RecordingHandler()
        async with smtp_server(handler) as server:
            transport = SmtpTransport(settings(server.port))
            raw = b"Subject: x\n\n.first line\nsecond\r.third\r\n..fourth"
            result = await transport.send(OutgoingMessage("bounces+m@example.com", ("a@example.de",), raw, 1))
            await transport.close()
        assert result.status is SendStatus.ACCEPTED, result
        (received,) = handler.messages
        assert received.data == b"Subject: x\r\n\r\n.first line\r\nsecond\r\n.third\r\n..fourth\r\n"

    run(scenario)


def test_connections_are_reused() -> None:
    async def scenario() -> None:
        handler = RecordingHandler()
        async with smtp_server(handler) as server:
            transport = SmtpTransport(settings(server.port, pool_size=2))
            results = await asyncio.gather(*(transport.send(message(i)) for i in range(20)))
            await transport.close()
            assert all(r.accepted for r in results)
            assert len(handler.messages) == 20
            assert server.connections <= 2
            assert transport.connections_opened == server.connections

    run(scenario)


def test_a_connection_dropped_while_idle_is_reopened() -> None:
    async def scenario() -> None:
        handler = RecordingHandler()
        async with smtp_server(handler) as server:
            transport = SmtpTransport(settings(server.port, pool_size=1))
            assert (await transport.send(message(1))).accepted
            server.drop_all()  # the relay's idle timeout
            await asyncio.sleep(0.05)
            assert (await transport.send(message(2))).accepted
            await transport.close()
            assert server.connections == 2
            assert len(handler.messages) == 2

    run(scenario)


def test_starttls_with_a_verified_certificate_and_auth(certificates: Certificates) -> None:
    async def scenario() -> None:
        handler = RecordingHandler()
        async with smtp_server(
            handler,
            tls_context=certificates.server_context(),
            require_starttls=True,
            auth_required=True,
            authenticator=password_authenticator("mailer", "s3cret pass"),
        ) as server:
            transport = SmtpTransport(
                settings(
                    server.port,
                    host="localhost",
                    tls="starttls",
                    username="mailer",
                    password="s3cret pass",
                    ca_file=str(certificates.ca_file),
                )
            )
            result = await transport.send(message(1))
            await transport.close()
            assert result.accepted, result
            assert server.sessions[0].session is not None
            assert server.sessions[0].session.authenticated

    run(scenario)


def test_a_wrong_password_is_a_retry_not_a_bounce(certificates: Certificates) -> None:
    async def scenario() -> None:
        async with smtp_server(
            RecordingHandler(),
            tls_context=certificates.server_context(),
            auth_required=True,
            authenticator=password_authenticator("mailer", "right"),
        ) as server:
            transport = SmtpTransport(
                settings(
                    server.port,
                    host="localhost",
                    tls="starttls",
                    username="mailer",
                    password="wrong-pw-x",
                    ca_file=str(certificates.ca_file),
                )
            )
            result = await transport.send(message(1))
            await transport.close()
            assert result.status is SendStatus.RETRY and result.stage == "connect"
            assert result.code == 535
            assert "wrong-pw-x" not in result.reason and "wrong-pw-x" not in repr(transport)

    run(scenario)


def test_an_untrusted_certificate_is_refused(certificates: Certificates) -> None:
    async def scenario() -> None:
        handler = RecordingHandler()
        async with smtp_server(handler, tls_context=certificates.server_context()) as server:
            transport = SmtpTransport(
                settings(server.port, host="localhost", tls="starttls")
            )  # system CAs only
            result = await transport.send(message(1))
            await transport.close()
            assert result.status is SendStatus.RETRY and result.stage == "connect"
            assert "certificate" in result.reason.lower()
            assert handler.messages == []

    run(scenario)


def test_starttls_required_but_not_offered_never_falls_back_to_plain_text() -> None:
    async def scenario() -> None:
        handler = RecordingHandler()
        async with smtp_server(handler) as server:
            transport = SmtpTransport(settings(server.port, tls="starttls", username="u", password="p"))
            result = await transport.send(message(1))
            await transport.close()
            assert result.status is SendStatus.RETRY and result.stage == "connect"
            assert handler.messages == []

    run(scenario)


def test_implicit_tls(certificates: Certificates) -> None:
    async def scenario() -> None:
        handler = RecordingHandler()
        async with smtp_server(handler, ssl_context=certificates.server_context()) as server:
            transport = SmtpTransport(
                settings(server.port, host="localhost", tls="implicit", ca_file=str(certificates.ca_file))
            )
            result = await transport.send(message(1))
            await transport.close()
            assert result.accepted, result
            assert len(handler.messages) == 1

    run(scenario)


class Misbehaving:
    """Answers according to the recipient's local part; ``stall`` never answers DATA."""

    def __init__(self) -> None:
        self.never = asyncio.Event()

    async def handle_RCPT(  # noqa: N802 - the name aiosmtpd calls
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        replies = {
            "unknown": "550 5.1.1 <unknown@example.de>: Recipient address rejected: User unknown",
            "greylisted": "451 4.7.1 Greylisted, please try again in 5 minutes",
            "closing": "421 4.3.2 Service shutting down, closing transmission channel",
        }
        local = address.split("@")[0]
        if local in replies:
            return replies[local]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        local = envelope.rcpt_tos[0].split("@")[0]
        if local == "spam":
            return "554 5.7.1 Message rejected as spam"
        if local == "busy":
            return "452 4.3.1 Insufficient system storage"
        if local == "drop" and server.transport is not None:
            server.transport.abort()  # the connection dies before the final reply
        if local == "stall":
            await self.never.wait()
        return "250 2.0.0 Ok"


def test_each_server_reply_becomes_the_right_result() -> None:
    async def scenario() -> None:
        async with smtp_server(Misbehaving()) as server:
            transport = SmtpTransport(settings(server.port, pool_size=1, timeout=0.5, data_timeout=0.5))
            outcomes = {}
            for local in ("unknown", "greylisted", "spam", "busy", "closing", "drop", "stall", "fine"):
                outcomes[local] = await transport.send(message(0, f"{local}@example.de"))
            await transport.close()

        assert outcomes["unknown"].status is SendStatus.REJECTED
        assert (outcomes["unknown"].code, outcomes["unknown"].stage) == (550, "rcpt")
        assert outcomes["unknown"].hard_bounce
        assert "User unknown" in outcomes["unknown"].reason

        assert outcomes["greylisted"].status is SendStatus.RETRY and outcomes["greylisted"].code == 451

        assert outcomes["spam"].status is SendStatus.REJECTED
        assert (outcomes["spam"].code, outcomes["spam"].stage) == (554, "data")
        assert not outcomes["spam"].hard_bounce  # the content was refused, not the address

        assert outcomes["busy"].status is SendStatus.RETRY and outcomes["busy"].stage == "data"
        assert outcomes["closing"].status is SendStatus.RETRY and outcomes["closing"].code == 421

        # After the final dot the relay has the whole message: a lost answer is unknown, never a retry.
        assert outcomes["drop"].status is SendStatus.UNKNOWN and outcomes["drop"].stage == "data"
        assert "connection lost" in outcomes["drop"].reason and "final dot" in outcomes["drop"].reason

        assert outcomes["stall"].status is SendStatus.UNKNOWN
        assert "no answer within 0.5s" in outcomes["stall"].reason
        # After all that, the transport recovers: RSET after refusals, reconnect after failures.
        assert outcomes["fine"].accepted, outcomes["fine"]

    run(scenario)


def test_some_recipients_refused_still_sends_to_the_others() -> None:
    async def scenario() -> None:
        async with smtp_server(Misbehaving()) as server:
            transport = SmtpTransport(settings(server.port))
            base = message(0)
            result = await transport.send(
                OutgoingMessage(base.sender, ("fine@example.de", "unknown@example.de"), base.data, 0)
            )
            await transport.close()
        assert result.accepted
        assert result.refused_recipients["unknown@example.de"][0] == 550

    run(scenario)


def test_nothing_listening_is_a_retry() -> None:
    async def scenario() -> None:
        async with smtp_server(RecordingHandler()) as server:
            port = server.port
        transport = SmtpTransport(settings(port, timeout=0.5))
        result = await transport.send(message(1))
        await transport.close()
        assert result.status is SendStatus.RETRY and result.stage == "connect"

    run(scenario)


def test_the_password_never_shows() -> None:
    transport = SmtpTransport(settings(25, username="mailer", password="hunter2-secret"))
    assert "hunter2-secret" not in repr(transport)
    assert "hunter2-secret" not in repr(transport.settings)
    assert "hunter2-secret" not in transport.settings.describe()


def test_an_unsafe_envelope_is_refused_before_connecting() -> None:
    async def scenario() -> None:
        handler = RecordingHandler()
        async with smtp_server(handler) as server:
            transport = SmtpTransport(settings(server.port))
            base = message(1)
            result = await transport.send(
                OutgoingMessage(base.sender, ("eve@example.com>\r\nRCPT TO:<victim@example.com",), base.data)
            )
            await transport.close()
            assert result.status is SendStatus.REJECTED and result.code == 553
            assert server.connections == 0

    run(scenario)


def test_closing_lets_sends_under_way_finish() -> None:
    async def scenario() -> None:
        handler = RecordingHandler()
        async with smtp_server(handler) as server:
            transport = SmtpTransport(settings(server.port, pool_size=2))
            sends = [asyncio.create_task(transport.send(message(i))) for i in range(4)]
            await asyncio.sleep(0)
            await transport.close()
            results = await asyncio.gather(*sends)
        accepted = [r for r in results if r.accepted]
        assert len(accepted) == len(handler.messages) >= 2
        assert all(r.accepted or "closed" in r.reason for r in results)

    run(scenario)


def test_a_send_after_closing_is_a_retry() -> None:
    async def scenario() -> None:
        async with smtp_server(RecordingHandler()) as server:
            transport = SmtpTransport(settings(server.port, pool_size=1))
            assert (await transport.send(message(1))).accepted
            await transport.close()
            result = await asyncio.wait_for(transport.send(message(2)), timeout=2)
            assert result.status is SendStatus.RETRY and "closed" in result.reason

    run(scenario)


class Slow:
    """Answers the final dot after ``delay`` seconds, or, told to, drops the connection at RCPT."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.received: list[bytes] = []
        self.waiting = asyncio.Event()

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.startswith("drop@") and server.transport is not None:
            server.transport.abort()  # before the message: the relay cannot have it
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.received.append(envelope.content)
        self.waiting.set()
        await asyncio.sleep(self.delay)
        return "250 2.0.0 Ok"


def test_the_answer_to_the_final_dot_is_awaited_longer_than_a_command() -> None:
    async def scenario() -> None:
        async with smtp_server(Slow(1.0)) as server:
            transport = SmtpTransport(settings(server.port, timeout=0.3, data_timeout=5))
            result = await transport.send(message(1))
            await transport.close()
        assert result.accepted, result  # a relay scanning the message for a second is not "unknown"

    run(scenario)


def test_a_connection_lost_before_the_final_dot_is_a_retry() -> None:
    async def scenario() -> None:
        async with smtp_server(Slow(0)) as server:
            transport = SmtpTransport(settings(server.port, pool_size=1))
            lost = await transport.send(message(1, "drop@example.de"))
            fine = await transport.send(message(2))
            await transport.close()
        assert lost.status is SendStatus.RETRY and lost.stage == "rcpt", lost
        assert fine.accepted

    run(scenario)


def test_interrupting_ends_the_wait_unknown_after_the_dot() -> None:
    async def scenario() -> None:
        relay = Slow(30)
        async with smtp_server(relay) as server:
            transport = SmtpTransport(settings(server.port, data_timeout=600))
            sending = asyncio.create_task(transport.send(message(1)))
            await asyncio.wait_for(relay.waiting.wait(), 5)
            await asyncio.sleep(0.05)
            transport.interrupt()
            result = await asyncio.wait_for(sending, 2)
            await transport.close()
        assert result.status is SendStatus.UNKNOWN, result
        assert "stopped while waiting" in result.reason
        assert len(relay.received) == 1

    run(scenario)


def test_the_data_timeout_comes_from_the_url_and_the_settings(tmp_path: Any) -> None:
    from nurture.delivery.transports import parse_smtp_url
    from nurture.settings import Settings

    assert parse_smtp_url("smtp://relay.example.com", tmp_path).data_timeout == 600  # RFC 5321 4.5.3.2.6
    chosen = Settings(smtp_data_timeout=120)
    assert parse_smtp_url("smtp://relay.example.com", tmp_path, chosen).data_timeout == 120
    assert parse_smtp_url("smtp://relay.example.com?data_timeout=60", tmp_path, chosen).data_timeout == 60
