"""Loopback ports for the servers tests start: SMTP relays, IMAP, HTTP, a browser's debugging port.

A port found by binding to port 0 and letting go comes from the kernel's ephemeral range, where
outgoing connections take their local ports too and where the suite's other processes (``pytest
-n 4``) probe at the same moment: between the probe and the server's own bind, someone else can
take it. So each test process hands out ports from a block of its own below Linux's ephemeral range
(32768-60999), in turn, and still checks that nothing is bound there (a service of the machine).
"""

from __future__ import annotations

import itertools
import os
import socket

_FIRST = 15_000  # above the usual services' ports (PostgreSQL 5432, Redis 6379, ...)
_BLOCK = 1_700  # ports per test process; ten blocks end below the ephemeral range
_BLOCKS = 10


def _process_index() -> int:
    """0 for a plain run; pytest-xdist names its processes gw0, gw1, ..."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    digits = name.removeprefix("gw")
    return int(digits) % _BLOCKS if digits.isdigit() else 0


_start = _FIRST + _process_index() * _BLOCK
_turns = itertools.cycle(range(_start, _start + _BLOCK))


def free_port() -> int:
    """A loopback port nothing is bound to, which no other test process of this run hands out."""
    for _ in range(_BLOCK):
        port = next(_turns)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:  # a service of the machine, or a server of this process still closing
                continue
            return port
    raise RuntimeError(f"no free loopback port in {_start}-{_start + _BLOCK - 1}")
