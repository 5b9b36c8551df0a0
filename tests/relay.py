"""A real SMTP relay on loopback (aiosmtpd) that misbehaves on request.

``Relay.faults`` maps an email's recipient to what the relay does with it: ``421`` (refuse the
recipient for now), ``451`` (refuse the message for now, after DATA), ``550`` (refuse the
recipient for good), ``drop-before-dot`` (close the connection at RCPT: the message never goes),
``drop-after-dot`` (read the whole message, keep it, close without answering), ``stall`` (answer
the final dot only when ``release`` is set, or after ``stall_for`` seconds). ``accepted`` lists
the Message-IDs of every message the relay kept (``drop-after-dot`` included: a relay may deliver
what it never confirmed).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from aiosmtpd.controller import Controller

from tests.ports import free_port


def message_id(content: bytes) -> str:
    for line in content.split(b"\r\n"):
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip().decode("ascii", "replace")
        if not line:
            break
    return ""


class Relay:
    """The handler; :func:`start_relay` runs it."""

    def __init__(self) -> None:
        self.faults: dict[str, str] = {}
        self.default: str | None = None  # the fault of every recipient not in ``faults``
        self.once: set[str] = set()  # recipients whose fault happens on the first attempt only
        self.accepted: list[str] = []
        self.contents: list[bytes] = []  # of every message kept, in order
        self.attempts: dict[str, int] = {}
        self.release = threading.Event()
        self.stall_for: float | None = None  # a stall ends by itself after this long
        self.stalled = 0  # messages waiting for ``release`` right now
        self.lock = threading.Lock()

    def fault(self, recipient: str) -> str | None:
        fault = self.faults.get(recipient, self.default)
        if fault is not None and recipient in self.once and self.attempts.get(recipient, 0) > 1:
            return None
        return fault

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.attempts[address] = self.attempts.get(address, 0) + 1
        fault = self.fault(address)
        if fault == "421":
            return "421 4.3.2 try again later"
        if fault == "550":
            return "550 5.1.1 no such user"
        if fault == "drop-before-dot":
            server.transport.abort()  # before the message: nothing of it can be delivered
            return "250 never seen"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        recipient = envelope.rcpt_tos[0]
        fault = self.fault(recipient)
        if fault == "451":
            return "451 4.7.1 greylisted"
        mid = message_id(envelope.content)
        if fault == "stall":
            self.stalled += 1
            ends = None if self.stall_for is None else asyncio.get_running_loop().time() + self.stall_for
            try:
                while not self.release.is_set():
                    if ends is not None and asyncio.get_running_loop().time() >= ends:
                        break
                    await asyncio.sleep(0.01)
            finally:
                self.stalled -= 1
        with self.lock:
            self.accepted.append(mid)
            self.contents.append(envelope.original_content or envelope.content)
        if fault == "drop-after-dot":
            server.transport.abort()  # kept, but the client never hears it
        return "250 2.0.0 queued"


def start_relay(relay: Relay, port: int | None = None) -> Controller:
    controller = Controller(relay, hostname="127.0.0.1", port=port or free_port())
    controller.start()
    return controller


def relay_url(controller: Controller, *, data_timeout: float = 600, timeout: float = 10) -> str:
    return (
        f"smtp://127.0.0.1:{controller.port}?tls=none&timeout={timeout:g}&data_timeout={data_timeout:g}"
    )
