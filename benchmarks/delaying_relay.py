"""An SMTP relay on loopback that answers every command after a delay, as a relay across a network.

A real relay answers each command one network round trip after it was sent; this one holds each
reply for ``--delay`` milliseconds after the command arrived, in order, without holding up the
commands behind it: replies to commands sent together (RFC 2920 pipelining) come back together,
one delay later, as they would from a relay ``--delay`` ms away. ``--delay 20`` is a relay in the
same region, ``--delay 80`` one across an ocean, ``--delay 0`` plain loopback.

It accepts every message and keeps nothing but a count of each Message-ID, so a benchmark can
check that no email went twice: on SIGTERM (or when it ends) it writes ``--stats FILE`` as JSON
``{"messages": N, "distinct": N, "duplicates": N, "pipelined": N}``, where ``pipelined`` counts the
transactions whose envelope came in one read (MAIL, RCPT and DATA sent together).

One asyncio loop in a process of its own, as ``smtp-sink`` would be.

    python benchmarks/delaying_relay.py 127.0.0.1:2525 --delay 20 [--no-pipelining] [--stats FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import re
import signal
from pathlib import Path

_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)


class Counts:
    """Every Message-ID seen, how often, and how many envelopes came pipelined."""

    def __init__(self) -> None:
        self.seen: collections.Counter[bytes] = collections.Counter()
        self.messages = 0
        self.pipelined = 0

    def as_dict(self) -> dict[str, int]:
        duplicates = sum(n - 1 for n in self.seen.values() if n > 1)
        return {
            "messages": self.messages,
            "distinct": len(self.seen),
            "duplicates": duplicates,
            "pipelined": self.pipelined,
        }


class DelayingSession(asyncio.Protocol):
    """One client connection: commands parsed as they arrive, replies held for ``delay`` seconds."""

    def __init__(self, delay: float, pipelining: bool, counts: Counts | None) -> None:
        self.delay = delay
        self.pipelining = pipelining
        self.counts = counts
        self.buffer = bytearray()
        self.in_data = False
        self.replies: collections.deque[tuple[float, bytes, bool]] = collections.deque()
        self.flush_scheduled = False
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.reply(b"220 delaying-relay ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        commands_in_read = 0
        while True:
            if self.in_data:
                end = self.buffer.find(b"\r\n.\r\n")
                if end < 0:
                    return
                message = bytes(self.buffer[:end])
                del self.buffer[: end + 5]
                self.in_data = False
                self.keep(message)
                self.reply(b"250 2.0.0 queued\r\n")
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                return
            line = bytes(self.buffer[:end])
            del self.buffer[: end + 2]
            commands_in_read += 1
            verb = line[:4].upper()
            if verb == b"DATA" and commands_in_read >= 3 and self.counts is not None:
                self.counts.pipelined += 1
            self.command(verb, line)

    def command(self, verb: bytes, line: bytes) -> None:
        if verb == b"EHLO":
            extensions = [b"250-delaying-relay", b"250-8BITMIME", b"250-SMTPUTF8", b"250-SIZE 52428800"]
            if self.pipelining:
                extensions.append(b"250-PIPELINING")
            extensions.append(b"250 ENHANCEDSTATUSCODES")
            self.reply(b"\r\n".join(extensions) + b"\r\n")
        elif verb == b"HELO":
            self.reply(b"250 delaying-relay\r\n")
        elif verb == b"DATA":
            self.in_data = True
            self.reply(b"354 end with <CRLF>.<CRLF>\r\n")
        elif verb == b"QUIT":
            self.reply(b"221 2.0.0 bye\r\n", close=True)
        else:  # MAIL, RCPT, RSET, NOOP: all fine
            self.reply(b"250 2.0.0 ok\r\n")

    def keep(self, message: bytes) -> None:
        if self.counts is None:
            return
        self.counts.messages += 1
        header_end = message.find(b"\r\n\r\n")
        found = _MESSAGE_ID.search(message, 0, header_end if header_end >= 0 else len(message))
        self.counts.seen[found.group(1) if found else b""] += 1

    def reply(self, data: bytes, *, close: bool = False) -> None:
        if self.delay <= 0:
            self.write(data, close)
            return
        self.replies.append((self.loop.time() + self.delay, data, close))
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_at(self.replies[0][0], self.flush)

    def flush(self) -> None:
        """Write every reply whose time has come, in order; wait for the next one's."""
        self.flush_scheduled = False
        now = self.loop.time()
        out = bytearray()
        close = False
        while self.replies and self.replies[0][0] <= now:
            _, data, close = self.replies.popleft()
            out += data
            if close:
                break
        if out:
            self.write(bytes(out), close)
        if self.replies and not close:
            self.flush_scheduled = True
            self.loop.call_at(self.replies[0][0], self.flush)

    def write(self, data: bytes, close: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(data)
        if close:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.replies.clear()
        self.transport = None


async def serve(host: str, port: int, delay: float, pipelining: bool, stats: Path | None) -> None:
    loop = asyncio.get_running_loop()
    counts = Counts() if stats is not None else None
    server = await loop.create_server(
        lambda: DelayingSession(delay, pipelining, counts), host, port, backlog=1024
    )
    stopped = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    async with server:
        await stopped.wait()
    if stats is not None and counts is not None:
        stats.write_text(json.dumps(counts.as_dict()), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("address", help="HOST:PORT to listen on")
    parser.add_argument("--delay", type=float, default=20.0, help="milliseconds before each reply")
    parser.add_argument("--no-pipelining", action="store_true", help="do not offer PIPELINING (RFC 2920)")
    parser.add_argument("--stats", type=Path, help="write the Message-ID counts here as JSON on exit")
    args = parser.parse_args()
    host, _, port = args.address.rpartition(":")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(host, int(port), args.delay / 1000, not args.no_pipelining, args.stats))


if __name__ == "__main__":
    main()
