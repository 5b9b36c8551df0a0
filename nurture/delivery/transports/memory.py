"""A transport that keeps messages in memory: simulations, previews and tests of the sender."""

from __future__ import annotations

from collections.abc import Callable

from nurture.delivery.transports.base import HELD_BACK, GoAhead, OutgoingMessage, SendResult


class MemoryTransport:
    """Accepts everything (or answers with ``verdict``) and keeps what it was given in ``sent``."""

    def __init__(self, verdict: Callable[[OutgoingMessage], SendResult] | None = None) -> None:
        self.sent: list[OutgoingMessage] = []
        self._verdict = verdict
        self.closed = False

    def __repr__(self) -> str:
        return f"MemoryTransport({len(self.sent)} messages)"

    async def send(self, message: OutgoingMessage, go_ahead: GoAhead | None = None) -> SendResult:
        """Record ``message`` and return the scripted verdict (accepted by default)."""
        if go_ahead is not None and not await go_ahead():
            return SendResult.retry(HELD_BACK, stage="data")
        result = self._verdict(message) if self._verdict is not None else SendResult.ok("kept in memory")
        if result.accepted:
            self.sent.append(message)
        return result

    async def close(self) -> None:
        """Nothing to release; remembers that it was closed."""
        self.closed = True

    async def pace(self) -> None:
        """No rate limit."""

    def interrupt(self) -> None:
        """Nothing ever waits here."""
