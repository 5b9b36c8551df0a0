"""Posts per minute from one IP address: a token bucket per address, held in this process.

Each server process counts on its own: behind a load balancer with N processes an address may
post up to N times the limit. That is enough to stop a script hammering one form; a limit shared
across replicas belongs in the proxy in front of them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

MAX_ADDRESSES = 50_000  # buckets kept; when full, those refilled to the brim are forgotten first


class RateLimiter:
    """``per_minute`` posts per address, in bursts of up to ``per_minute``; 0 lets everything by."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens per second
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, when)
        self._lock = threading.Lock()

    def allow(self, address: str) -> float | None:
        """Take one post for ``address``: None when allowed, else the seconds until the next one is."""
        if self.capacity <= 0:
            return None
        now = self.clock()
        with self._lock:
            tokens, then = self._buckets.get(address, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - then) * self.rate)
            if tokens < 1.0:
                self._buckets[address] = (tokens, now)
                return (1.0 - tokens) / self.rate
            if len(self._buckets) >= MAX_ADDRESSES and address not in self._buckets:
                self._forget_full(now)
            self._buckets[address] = (tokens - 1.0, now)
            return None

    def _forget_full(self, now: float) -> None:
        full = [a for a, (t, w) in self._buckets.items() if t + (now - w) * self.rate >= self.capacity]
        for address in full or list(self._buckets)[: MAX_ADDRESSES // 10]:
            del self._buckets[address]
