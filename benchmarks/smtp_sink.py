"""A minimal SMTP sink for the benchmarks when Postfix's ``smtp-sink`` is not installed.

Accepts every transaction and keeps nothing; one asyncio loop in its own process, so it costs the
benchmark a core of its own as ``smtp-sink`` does (it is slower than ``smtp-sink``: compare runs
against the same sink).

    python benchmarks/smtp_sink.py 127.0.0.1:2525
"""

from __future__ import annotations

import asyncio
import sys


async def _session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 sink ESMTP\r\n")
    try:
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                writer.write(b"250-sink\r\n250 PIPELINING\r\n")
            elif verb == b"DATA":
                writer.write(b"354 go ahead\r\n")
                await writer.drain()
                await reader.readuntil(b"\r\n.\r\n")
                writer.write(b"250 2.0.0 queued\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                break
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass
    writer.close()


async def _serve(host: str, port: int) -> None:
    server = await asyncio.start_server(_session, host, port, limit=1 << 24)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    address, _, number = sys.argv[1].rpartition(":")
    asyncio.run(_serve(address, int(number)))
