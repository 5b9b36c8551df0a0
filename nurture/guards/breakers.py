"""Circuit breakers: a campaign (or all marketing mail) pauses itself when its hard-bounce or
complaint rate crosses its limit (the figures are defined in :mod:`nurture.guards.rates`).

The sender calls :meth:`SendGuard.claim_filter` in the transaction of every claim: the breakers
are judged on the database's figures, a tripped one is recorded as a pause (once, whichever
replica sees it first), and the claim leaves every paused campaign's mail in the queue. The
operator is told by a log line, ``/metrics`` (``nurture_sending_paused``) and, with
``alert_address`` set, an email queued in the outbox.
"""

from __future__ import annotations

import html
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, func, select

from nurture.delivery.message_ids import new_message_id
from nurture.durations import parse_duration
from nurture.engagement.optouts import HARD_BOUNCE_TYPES
from nurture.guards.audit import daemon_actor
from nurture.guards.pauses import ALL_MARKETING, Pause, last_resumed, open_pauses, pause_sending, paused_mail
from nurture.guards.rates import BreakerLimits, Trip, WindowFigures, judge, minute_of, window_start
from nurture.settings import Settings
from nurture.store import bulk
from nurture.store.schema import CAMPAIGN_MAIL, events, messages, send_tallies

_log = logging.getLogger("nurture.guards")


def limits_from(settings: Settings) -> BreakerLimits:
    return BreakerLimits(
        hard_bounce_rate=settings.breaker_hard_bounce_rate,
        complaint_rate=settings.breaker_complaint_rate,
        min_sends=settings.breaker_min_sends,
        window=parse_duration(settings.breaker_window),
    )


def tally_handed_over(conn: Connection, outcomes: Iterable[tuple[str | None, str]], now: datetime) -> None:
    """Count marketing emails the relay accepted (``sent``) or refused for good (``bounced``), per
    campaign and minute, in the transaction that records their verdicts."""
    counts: Counter[tuple[str, str]] = Counter()
    for campaign_key, status in outcomes:
        if campaign_key and status in ("sent", "bounced"):
            counts[(campaign_key, status)] += 1
    keys = sorted({key for key, _ in counts})  # one order everywhere: concurrent upserts never deadlock
    if not keys:
        return
    minute = bulk.instant(conn, minute_of(now))
    bulk.executemany_rows(
        conn,
        "INSERT INTO send_tallies (campaign_key, minute, sent, hard_bounces) "
        "VALUES (:key, :minute, :sent, :bounced) ON CONFLICT (campaign_key, minute) DO UPDATE SET "
        "sent = send_tallies.sent + excluded.sent, "
        "hard_bounces = send_tallies.hard_bounces + excluded.hard_bounces",
        [(key, minute, counts[(key, "sent")], counts[(key, "bounced")]) for key in keys],
    )


def window_figures(conn: Connection, now: datetime, limits: BreakerLimits) -> dict[str, WindowFigures]:
    """Each campaign's figures in its window, and the workspace's under ``ALL_MARKETING``."""
    resumed = last_resumed(conn)
    earliest = now - limits.window
    t = send_tallies.c
    handed: dict[str, list[tuple[datetime, int, int]]] = {}
    query = select(t.campaign_key, t.minute, t.sent, t.hard_bounces).where(t.minute > earliest)
    for key, minute, sent, bounced in conn.execute(query):
        handed.setdefault(key, []).append((minute, int(sent), int(bounced)))
    later: dict[str, list[tuple[datetime, str]]] = {}  # bounces by mail and complaints, by campaign
    e = events.c
    query2 = select(e.campaign_key, e.type, e.occurred_at, e.properties).where(
        e.type.in_(("bounce", "complaint")),
        e.occurred_at > earliest,
        e.message_id.is_not(None),
        e.campaign_key.is_not(None),
    )
    for key, type_, at, properties in conn.execute(query2):
        kind = str((properties or {}).get("bounce_type", "")).lower()
        if type_ == "bounce" and kind not in HARD_BOUNCE_TYPES:
            continue
        later.setdefault(key, []).append((at, type_))
    figures: dict[str, WindowFigures] = {}
    whole_since = window_start(now, limits.window, resumed.get(ALL_MARKETING))
    for key in sorted(set(handed) | set(later)):
        since = max(window_start(now, limits.window, resumed.get(key)), whole_since)
        counts = [0, 0, 0]
        for minute, sent, bounced in handed.get(key, ()):
            if minute > since:  # whole minutes begun inside the window
                counts[0] += sent + bounced
                counts[1] += bounced
        for at, type_ in later.get(key, ()):
            if at > since:
                counts[1 if type_ == "bounce" else 2] += 1
        figures[key] = WindowFigures(counts[0], counts[1], counts[2], since)
    return figures


def workspace_figures(figures: dict[str, WindowFigures], now: datetime, since: datetime) -> WindowFigures:
    """The sums over campaigns: the workspace's own figures."""
    return WindowFigures(
        sum(f.handed_over for f in figures.values()),
        sum(f.hard_bounces for f in figures.values()),
        sum(f.complaints for f in figures.values()),
        since,
    )


@dataclass
class SendGuard:
    """What the sender asks before each claim: trip the breakers that are due, then leave paused
    mail out. One per sender; ``on_trip`` listeners (the daemon's metrics) hear of each trip."""

    limits: BreakerLimits
    alert_address: str | None = None
    from_address: str = "nurture@localhost"
    on_trip: list[Callable[[str, Trip], None]] = field(default_factory=list)

    @classmethod
    def from_settings(cls, settings: Settings) -> SendGuard:
        return cls(limits_from(settings), settings.alert_address, settings.from_address)

    def claim_filter(self, conn: Connection, now: datetime) -> list[ColumnElement[bool]]:
        """Judge the breakers, then the WHERE clauses that keep paused mail out of this claim."""
        pauses = open_pauses(conn)
        judged = self.limits.hard_bounce_rate > 0 or self.limits.complaint_rate > 0
        if judged and self.trip_breakers(conn, now, pauses):
            pauses = open_pauses(conn)
        return paused_mail(pauses)

    def trip_breakers(self, conn: Connection, now: datetime, pauses: list[Pause] | None = None) -> list[str]:
        """Pause every campaign (or the workspace) whose rates crossed a limit; the keys paused."""
        paused = {p.campaign_key for p in (pauses if pauses is not None else open_pauses(conn))}
        if ALL_MARKETING in paused:
            return []
        tripped: list[str] = []
        figures = window_figures(conn, now, self.limits)
        # Campaigns first: the one causing the trouble is paused and the others keep going.
        for key in sorted(figures):
            trip = judge(figures[key], self.limits)
            if key in paused or trip is None:
                continue
            if self._trip(conn, key, trip, now):
                tripped.append(key)
            paused.add(key)  # by us, or by another replica a moment ago
        # Then the workspace, over what is still sending: many campaigns each just under their
        # limit can still hurt the domain together.
        still = {k: f for k, f in figures.items() if k not in paused}
        since = window_start(now, self.limits.window, last_resumed(conn).get(ALL_MARKETING))
        trip = judge(workspace_figures(still, now, since), self.limits)
        if trip is not None and self._trip(conn, ALL_MARKETING, trip, now):
            tripped.append(ALL_MARKETING)
        return tripped

    def _trip(self, conn: Connection, key: str, trip: Trip, now: datetime) -> bool:
        scope = "all marketing mail" if key == ALL_MARKETING else f"campaign {key}"
        detail = trip.describe(scope, self.limits.window)
        window = self.limits.window.total_seconds()
        figures = {**trip.figures.as_dict(), "limit": trip.limit, "window": window}
        new = pause_sending(
            conn, None if key == ALL_MARKETING else key, actor=daemon_actor(), now=now,
            reason=trip.reason, detail=detail, figures=figures,
        )  # fmt: skip
        if not new:
            return False  # another replica tripped it first and told everyone
        _log.warning(
            "sending.breaker_tripped",
            extra={"fields": {"scope": scope, "reason": trip.reason, "detail": detail, **figures}},
        )
        if self.alert_address:
            queue_operator_alert(conn, self.alert_address, self.from_address, scope, detail, now)
        for listener in self.on_trip:
            listener(key, trip)
        return True


def queue_operator_alert(
    conn: Connection, to: str, from_address: str, scope: str, detail: str, now: datetime
) -> None:
    """An email to the operator, queued in the outbox like a sales notification (never paused)."""
    domain = from_address.rpartition("@")[2].strip(" >") or "nurture.invalid"
    subject = f"nurture paused {scope}"
    text = (
        f"{detail}.\n\nSending of {scope} is paused on every replica; its emails wait in the queue.\n"
        "Find the cause (a stale list, a broken segment, the relay), then run `nurture resume"
        f"{'' if scope == 'all marketing mail' else ' ' + scope.removeprefix('campaign ')}`.\n"
    )
    body = "".join(f"<p>{html.escape(part)}</p>" for part in text.strip().split("\n\n"))
    at = now
    row = {
        "kind": "operator_alert", "to_address": to, "subject": subject, "text": text,
        "html": f"<html><body>{body}</body></html>", "message_id": new_message_id(domain, now),
        "status": "queued", "attempts": 0, "next_attempt_at": at, "created_at": at,
    }  # fmt: skip
    conn.execute(messages.insert().values(**row))


def sent_since(conn: Connection, since: datetime) -> dict[str, int]:
    """Campaign emails sent since ``since``, by campaign (``nurture campaigns``: sent today)."""
    m = messages.c
    query = (
        select(m.campaign_key, func.count())
        .where(m.kind.in_(CAMPAIGN_MAIL), m.status == "sent", m.sent_at >= since)
        .group_by(m.campaign_key)
    )
    return {key: int(count) for key, count in conn.execute(query) if key}
