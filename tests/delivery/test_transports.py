"""Creating transports from settings, the Maildir outbox, and pacing."""

from __future__ import annotations

import asyncio
import mailbox
from datetime import timedelta
from pathlib import Path

import pytest

from nurture.delivery.pacing import TokenBucket, next_retry_delay
from nurture.delivery.transports import (
    MaildirTransport,
    MemoryTransport,
    OutgoingMessage,
    SendResult,
    SendStatus,
    SmtpTransport,
    TransportError,
    parse_transport,
    redact_url,
)
from nurture.settings import Settings

DATA = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: Hallo\r\n\r\nHallo\r\n"


def test_the_default_transport_is_a_maildir_in_the_workspace(tmp_path: Path) -> None:
    transport = parse_transport(Settings().transport, tmp_path, Settings())
    assert isinstance(transport, MaildirTransport)
    assert transport.path == tmp_path / "outbox"
    assert {p.name for p in transport.path.iterdir()} == {"tmp", "new", "cur"}


def test_maildir_messages_can_be_opened_by_a_mail_program(tmp_path: Path) -> None:
    async def scenario() -> list[SendResult]:
        transport = MaildirTransport(tmp_path / "outbox", fsync=True)
        results = await asyncio.gather(
            *(
                transport.send(OutgoingMessage("bounces+x@example.com", ("b@example.com",), DATA, i))
                for i in range(5)
            )
        )
        await transport.close()
        return results

    results = asyncio.run(scenario())
    assert all(r.accepted for r in results)
    box = mailbox.Maildir(tmp_path / "outbox", create=False)
    messages = list(box)
    assert len(messages) == 5
    assert messages[0]["Return-Path"] == "<bounces+x@example.com>"
    assert messages[0]["Subject"] == "Hallo"
    assert list((tmp_path / "outbox" / "tmp").iterdir()) == []
    assert len({p.name for p in (tmp_path / "outbox" / "new").iterdir()}) == 5


def test_a_maildir_refuses_unsafe_envelopes(tmp_path: Path) -> None:
    transport = MaildirTransport(tmp_path / "outbox")
    bad = OutgoingMessage("x@example.com>\r\nBcc: y@example.com", ("b@example.com",), DATA)
    result = asyncio.run(transport.send(bad))
    assert result.status is SendStatus.REJECTED
    asyncio.run(transport.close())


def test_a_maildir_that_cannot_be_written_is_a_retry(tmp_path: Path) -> None:
    transport = MaildirTransport(tmp_path / "outbox")
    (tmp_path / "outbox" / "tmp").rmdir()
    result = asyncio.run(transport.send(OutgoingMessage("a@example.com", ("b@example.com",), DATA)))
    assert result.status is SendStatus.RETRY
    assert "cannot write" in result.reason
    asyncio.run(transport.close())


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://relay.example.com", ("relay.example.com", 587, "starttls", None)),
        (
            "smtp://mailer:p%40ss%3Aw0rd@relay.example.com:2525?tls=none",
            ("relay.example.com", 2525, "none", "mailer"),
        ),
        ("smtps://mailer:x@relay.example.com", ("relay.example.com", 465, "implicit", "mailer")),
        (
            "smtp://relay.example.com:25?tls=implicit&timeout=5&pool_size=8&rate=12.5",
            ("relay.example.com", 25, "implicit", None),
        ),
    ],
)
def test_smtp_urls(tmp_path: Path, url: str, expected: tuple[object, ...]) -> None:
    transport = parse_transport(url, tmp_path, Settings())
    assert isinstance(transport, SmtpTransport)
    config = transport.settings
    assert (config.host, config.port, config.tls, config.username) == expected
    if "p%40ss" in url:
        assert config.password == "p@ss:w0rd"
    if "pool_size=8" in url:
        assert (config.pool_size, config.rate_per_second, config.timeout) == (8, 12.5, 5.0)


def test_pool_size_and_rate_come_from_the_settings(tmp_path: Path) -> None:
    transport = parse_transport(
        "smtp://relay.example.com", tmp_path, Settings(smtp_pool_size=6, smtp_rate_per_second=3)
    )
    assert isinstance(transport, SmtpTransport)
    assert (transport.settings.pool_size, transport.settings.rate_per_second) == (6, 3.0)


def test_max_connections_and_max_rate_in_the_url_win_over_the_settings(tmp_path: Path) -> None:
    url = "smtp://relay.example.com?max_connections=12&max_rate=50&pool_size=3"
    transport = parse_transport(url, tmp_path, Settings(smtp_pool_size=6, smtp_rate_per_second=3))
    assert isinstance(transport, SmtpTransport)
    assert (transport.settings.pool_size, transport.settings.rate_per_second) == (12, 50.0)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("smtp://user:topsecret@relay.example.com:99999", "port"),
        ("smtp://user:topsecret@:25", "needs a host"),
        ("smtp://user:topsecret@relay.example.com?tls=maybe", "tls must be"),
        ("smtp://user:topsecret@relay.example.com?tsl=none", "unknown option 'tsl'"),
        ("smtp://user:topsecret@relay.example.com?timeout=soon", "timeout must be a number"),
        ("smtp://user:topsecret@relay.example.com?ca_file=/nonexistent/ca.pem", "does not exist"),
        ("smtp://user:topsecret@relay.example.com/path", "no path"),
        ("sendmail://user:topsecret@relay.example.com", "unknown transport"),
        ("maildir:", "name the Maildir folder"),
        ("maildir:outbox?fsync=sometimes", "fsync must be true or false"),
    ],
)
def test_bad_urls_are_explained_without_the_password(tmp_path: Path, url: str, message: str) -> None:
    with pytest.raises(TransportError) as error:
        parse_transport(url, tmp_path, Settings())
    assert message in str(error.value)
    assert "topsecret" not in str(error.value)


@pytest.mark.parametrize(
    "url",
    [
        "smtp://u:topsecret@h:25",
        "smtp://u:top@secret@h",
        "smtp://u:top/secret@h:25?tls=none",
        "smtp://u:topsecret@h/x",
    ],
)
def test_redacted_urls_hide_the_password(url: str) -> None:
    redacted = redact_url(url)
    assert "secret" not in redacted
    assert redacted.startswith("smtp://u:***@h")


def test_the_memory_transport_keeps_what_it_accepts() -> None:
    transport = MemoryTransport(
        lambda m: SendResult.retry("later") if m.message_ref == 2 else SendResult.ok()
    )
    for ref in (1, 2, 3):
        asyncio.run(transport.send(OutgoingMessage("a@example.com", ("b@example.com",), DATA, ref)))
    assert [m.message_ref for m in transport.sent] == [1, 3]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_rate_limit_allows_a_burst_then_spaces_sends() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, clock=clock)
    assert [bucket.reserve() for _ in range(10)] == [0.0] * 10
    waits = [bucket.reserve() for _ in range(3)]
    assert waits == pytest.approx([0.1, 0.2, 0.3])
    clock.now += 1.0  # a second later the reserved slots are used up and seven are free again
    assert bucket.reserve() == 0.0


def test_the_rate_limit_holds_over_time() -> None:
    clock = FakeClock()
    bucket = TokenBucket(5, burst=1, clock=clock)
    sent_at = []
    for _ in range(20):
        clock.now += bucket.reserve()
        sent_at.append(clock.now)
    assert sent_at[-1] - sent_at[0] == pytest.approx(19 / 5)


def test_smtp_sends_wait_for_the_rate_limit() -> None:
    from .conftest import RecordingHandler, smtp_server
    from .test_smtp import message, settings

    async def scenario() -> float:
        async with smtp_server(RecordingHandler()) as server:
            # Four a second: a burst of four goes at once, the fifth a quarter second later.
            transport = SmtpTransport(settings(server.port, rate_per_second=4.0))
            loop = asyncio.get_running_loop()
            started = loop.time()
            await asyncio.gather(*(transport.send(message(i)) for i in range(5)))
            elapsed = loop.time() - started
            await transport.close()
            return elapsed

    assert asyncio.run(scenario()) >= 0.24


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [(1, 30, 60), (2, 60, 120), (3, 120, 240), (6, 960, 1920), (12, 10_800, 21_600), (60, 10_800, 21_600)],
)
def test_retry_delays_grow_and_are_capped(attempt: int, low: float, high: float) -> None:
    assert next_retry_delay(attempt, rng=lambda: 0.0) == timedelta(seconds=low)
    assert next_retry_delay(attempt, rng=lambda: 1.0) == timedelta(seconds=high)
    assert timedelta(seconds=low) <= next_retry_delay(attempt) <= timedelta(seconds=high)


def test_retry_attempts_count_from_one() -> None:
    with pytest.raises(ValueError):
        next_retry_delay(0)
