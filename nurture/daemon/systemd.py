"""Telling systemd how the service is doing (``Type=notify``), without a library.

systemd passes a datagram socket in ``NOTIFY_SOCKET``; the service writes ``READY=1`` once it
serves and schedules, ``RELOADING=1``/``READY=1`` around a reload and ``STOPPING=1`` when it stops.
Outside systemd the variable is unset and nothing happens.
"""

from __future__ import annotations

import os
import socket
import time

NOTIFY_ENV = "NOTIFY_SOCKET"


def notify(*states: str) -> bool:
    """Send ``KEY=value`` states to systemd; False when not run by systemd (or it cannot be told)."""
    address = os.environ.get(NOTIFY_ENV, "")
    if not address or not states:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # an abstract socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto("\n".join(states).encode("utf-8"), address)
    except OSError:
        return False
    return True


def reloading() -> bool:
    """Say a reload has begun (systemd wants the monotonic time with it)."""
    return notify("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")
