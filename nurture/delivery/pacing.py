"""Pacing of outgoing mail: a send-rate limit and the back-off between delivery attempts."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from datetime import timedelta


class TokenBucket:
    """At most ``rate`` sends per second on average, with bursts of up to ``burst`` sends.

    Each caller reserves its slot when it asks, so concurrent senders queue fairly instead of
    waking up together and racing for the same token.
    """

    def __init__(
        self, rate: float, burst: float | None = None, *, clock: Callable[[], float] = time.monotonic
    ):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate)
        self._clock = clock
        self._tokens = self.burst
        self._updated = clock()

    def reserve(self) -> float:
        """Take one token; the seconds the caller must wait before using it (0 when available)."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        self._tokens -= 1.0
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self.rate

    async def acquire(self) -> None:
        """Wait until this caller may send."""
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)


def next_retry_delay(
    attempt: int,
    *,
    base: timedelta = timedelta(minutes=1),
    cap: timedelta = timedelta(hours=6),
    rng: Callable[[], float] = random.random,
) -> timedelta:
    """How long to wait before delivery attempt ``attempt + 1`` after ``attempt`` failed (1-based).

    Doubles from ``base`` up to ``cap``; the second half of each interval is random ("equal
    jitter") so that messages deferred together by a relay outage do not all return at once.
    """
    if attempt < 1:
        raise ValueError("attempts are counted from 1")
    ceiling = min(cap.total_seconds(), base.total_seconds() * 2.0 ** min(attempt - 1, 62))
    return timedelta(seconds=ceiling / 2 + rng() * ceiling / 2)
