"""Paused sending: a campaign, or all marketing mail of the workspace, held in the outbox.

A pause is a row in the database, so every replica obeys it: the sender looks at the open pauses
each time it claims a batch, and leaves paused mail queued, where it waits (nothing is dropped)
until ``nurture resume``. Sales notifications and operator alerts are never paused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, not_, or_, select, update
from sqlalchemy.exc import IntegrityError

from nurture.clock import as_utc
from nurture.guards.audit import record_audit
from nurture.store.schema import CAMPAIGN_MAIL, messages, sending_pauses

ALL_MARKETING = "*"  # the pause of every campaign: the workspace's marketing mail


@dataclass(frozen=True)
class Pause:
    campaign_key: str  # a campaign, or ALL_MARKETING
    reason: str  # manual | hard_bounce_rate | complaint_rate
    detail: str | None
    figures: dict[str, Any] | None
    paused_by: str
    paused_at: datetime

    @property
    def scope(self) -> str:
        """``all marketing mail`` or ``campaign KEY``, for messages."""
        return "all marketing mail" if self.campaign_key == ALL_MARKETING else f"campaign {self.campaign_key}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign": None if self.campaign_key == ALL_MARKETING else self.campaign_key,
            "scope": self.scope,
            "reason": self.reason,
            "detail": self.detail,
            "figures": self.figures,
            "paused_by": self.paused_by,
            "paused_at": self.paused_at.isoformat(),
        }


def _key(campaign_key: str | None) -> str:
    return campaign_key or ALL_MARKETING


def audit_subject(key: str) -> str:
    """``campaign:KEY``, or ``all-marketing`` for the workspace's pause."""
    return "all-marketing" if key == ALL_MARKETING else f"campaign:{key}"


def open_pauses(conn: Connection) -> list[Pause]:
    """The pauses in force, oldest first."""
    p = sending_pauses.c
    query = (
        select(p.campaign_key, p.reason, p.detail, p.figures, p.paused_by, p.paused_at)
        .where(p.resumed_at.is_(None))
        .order_by(p.paused_at, p.id)
    )
    return [
        Pause(r.campaign_key, r.reason, r.detail, dict(r.figures or {}) or None, r.paused_by, r.paused_at)
        for r in conn.execute(query)
    ]


def pause_sending(
    conn: Connection,
    campaign_key: str | None,
    *,
    actor: str,
    now: datetime,
    reason: str = "manual",
    detail: str | None = None,
    figures: dict[str, Any] | None = None,
) -> bool:
    """Pause a campaign (None: all marketing mail); False when it was paused already.

    Replicas may trip the same breaker at once: the unique index on open pauses lets one win and
    the others see False, so the pause is recorded and announced once.
    """
    key = _key(campaign_key)
    try:
        with conn.begin_nested():
            conn.execute(
                sending_pauses.insert().values(
                    campaign_key=key,
                    reason=reason,
                    detail=(detail or "")[:500] or None,
                    figures=figures,
                    paused_by=actor[:200],
                    paused_at=as_utc(now),
                )
            )
    except IntegrityError:
        return False
    record_audit(
        conn, actor, "pause" if reason == "manual" else "breaker", audit_subject(key),
        {"reason": reason, "detail": detail, **({"figures": figures} if figures else {})}, now,
    )  # fmt: skip
    return True


def resume_sending(conn: Connection, campaign_key: str | None, *, actor: str, now: datetime) -> bool:
    """End the pause of a campaign (None: of all marketing mail); False when it was not paused."""
    key = _key(campaign_key)
    p = sending_pauses.c
    result = conn.execute(
        update(sending_pauses)
        .where(p.campaign_key == key, p.resumed_at.is_(None))
        .values(resumed_by=actor[:200], resumed_at=as_utc(now))
    )
    if not result.rowcount:
        return False
    record_audit(conn, actor, "resume", audit_subject(key), {}, now)
    return True


def last_resumed(conn: Connection) -> dict[str, datetime]:
    """When each campaign (and ALL_MARKETING) was last resumed: breakers count only what came after."""
    p = sending_pauses.c
    query = select(p.campaign_key, p.resumed_at).where(p.resumed_at.is_not(None))
    found: dict[str, datetime] = {}
    for key, at in conn.execute(query):
        if key not in found or at > found[key]:
            found[key] = at
    return found


def paused_mail(pauses: list[Pause]) -> list[ColumnElement[bool]]:
    """WHERE clauses over ``messages`` that leave paused mail out of a claim."""
    m = messages.c
    keys = {p.campaign_key for p in pauses}
    if not keys:
        return []
    # A campaign's transactional emails wait behind a pause too: a breaker trips over the sender's
    # reputation, which they share; they are kept, never dropped.
    if ALL_MARKETING in keys:
        return [m.kind.not_in(CAMPAIGN_MAIL)]
    paused = and_(m.campaign_key.is_not(None), m.campaign_key.in_(sorted(keys)))
    return [or_(m.kind.not_in(CAMPAIGN_MAIL), not_(paused))]
