"""How fast each recipient mail host is sent to: a rate and a connection limit per host group.

Mailbox providers defer (421/4xx) or block a sender that sends them more than they like; a relay
passes the deferral back, and mail to every other provider should not wait for it. So each host
group (:mod:`nurture.delivery.mail_hosts`) has its own limit: emails per second (a token bucket
with a burst of one second's worth) and emails on the wire at once (the "connections" a provider
sees from us, through the relay). A 421 or other 4xx answer about an email (at MAIL, RCPT or DATA,
not a failure to reach the relay) halves that group's rate and connections at once, at most once
a second; both then recover in a straight line back to the limit over :data:`RECOVERY` seconds
without another deferral ("slow down at once, speed up gradually").

Every time comes from the injected monotonic ``clock``, so tests move it instead of sleeping.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from nurture.delivery.transports.base import SendResult, SendStatus

RECOVERY = 600.0  # seconds from a deferral back to the full limit
MIN_FRACTION = 1 / 64  # a group is never slowed below this share of its limit
SLOW_DOWN_EVERY = 1.0  # seconds: the replies of one burst halve the rate once, not once each
CONNECTION_WAIT = 0.02  # seconds to look again when a group has no free connection


@dataclass(frozen=True)
class HostLimit:
    """What one host group takes from us: ``rate`` emails/s and ``connections`` at once."""

    rate: float
    connections: int


# Starting points, not published figures: providers do not publish their limits, and these keep
# a new sender well inside what each is known to accept. Override them in ``mail_host_limits``.
DEFAULT_LIMITS: dict[str, HostLimit] = {
    "google": HostLimit(20, 10),
    "microsoft": HostLimit(10, 10),
    "yahoo": HostLimit(10, 5),
    "apple": HostLimit(10, 5),
    "gmx-web.de": HostLimit(5, 5),
    "t-online": HostLimit(5, 3),
    "ionos": HostLimit(10, 5),
    "freenet": HostLimit(5, 3),
    "default": HostLimit(5, 4),  # any other host group
}


@dataclass
class _Group:
    limit: HostLimit
    tokens: float
    updated: float
    in_flight: int = 0
    slowed_to: float = 1.0  # share of the limit right after the last deferral
    slowed_at: float = -math.inf
    deferred: int = 0  # emails handed back to the queue because the group was at its limit
    refusals: int = 0  # 4xx answers that slowed the group


@dataclass(frozen=True)
class GroupState:
    """One host group's throttle, as ``/metrics`` shows it."""

    group: str
    rate: float
    connections: int
    in_flight: int
    deferred: int
    refusals: int


@dataclass
class Throttle:
    """Per host group: may an email go now, and what its answer means for the next ones."""

    limits: Mapping[str, HostLimit] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    clock: Callable[[], float] = time.monotonic
    _groups: dict[str, _Group] = field(default_factory=dict)

    def limit_of(self, group: str) -> HostLimit:
        return self.limits.get(group) or self.limits.get("default") or DEFAULT_LIMITS["default"]

    def share(self, group: str) -> float:
        """The share of its limit the group is allowed now (1.0 unless recently deferred)."""
        state = self._groups.get(group)
        if state is None:
            return 1.0
        since = self.clock() - state.slowed_at
        if since >= RECOVERY:
            return 1.0
        return state.slowed_to + (1.0 - state.slowed_to) * since / RECOVERY

    def rate(self, group: str) -> float:
        return self.limit_of(group).rate * self.share(group)

    def connections(self, group: str) -> int:
        return max(1, math.floor(self.limit_of(group).connections * self.share(group)))

    def wait(self, group: str) -> float:
        """Seconds until an email to ``group`` may go (0: now)."""
        state = self._state(group)
        if state.in_flight >= self.connections(group):
            return CONNECTION_WAIT
        self._refill(group, state)
        if state.tokens >= 1.0:
            return 0.0
        return (1.0 - state.tokens) / self.rate(group)

    def begin(self, group: str) -> None:
        """An email to ``group`` goes now (call when :meth:`wait` said 0)."""
        state = self._state(group)
        self._refill(group, state)
        state.tokens -= 1.0
        state.in_flight += 1

    def end(self, group: str, result: SendResult | None) -> None:
        """The email's answer is in (None: it never went): a 4xx about it slows the group."""
        state = self._state(group)
        state.in_flight = max(0, state.in_flight - 1)
        if result is not None and _host_deferred(result):
            state.refusals += 1
            now = self.clock()
            if now - state.slowed_at >= SLOW_DOWN_EVERY:
                state.slowed_to = max(MIN_FRACTION, self.share(group) / 2)
                state.slowed_at = now
                state.tokens = min(state.tokens, 0.0)

    def deferred(self, group: str, count: int) -> None:
        self._state(group).deferred += count

    def states(self) -> list[GroupState]:
        """Every host group sent to so far, by name."""
        return [
            GroupState(name, self.rate(name), self.connections(name), s.in_flight, s.deferred, s.refusals)
            for name, s in sorted(self._groups.items())
        ]

    def _state(self, group: str) -> _Group:
        state = self._groups.get(group)
        if state is None:
            limit = self.limit_of(group)
            state = self._groups[group] = _Group(limit, max(1.0, limit.rate), self.clock())
        return state

    def _refill(self, group: str, state: _Group) -> None:
        now = self.clock()
        rate = self.rate(group)
        state.tokens = min(max(1.0, rate), state.tokens + (now - state.updated) * rate)
        state.updated = now


def _host_deferred(result: SendResult) -> bool:
    """A temporary refusal of the email by the receiving side (not a failure to reach the relay)."""
    return (
        result.status is SendStatus.RETRY
        and result.code is not None
        and 400 <= result.code < 500
        and result.stage in ("mail", "rcpt", "data")
    )
