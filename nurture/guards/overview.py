"""Each campaign at a glance: its version, whether it sends, who waits where, what went out today."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

from sqlalchemy import Connection, func, select

from nurture.definitions import Campaign, Program, content_hash
from nurture.guards.breakers import sent_since
from nurture.guards.deploys import deployed_versions
from nurture.guards.held import held_versions
from nurture.guards.pauses import ALL_MARKETING, Pause, open_pauses
from nurture.guards.plan import approvals
from nurture.store.schema import CAMPAIGN_MAIL, enrollments, messages
from nurture.zones import zone


@dataclass
class CampaignState:
    key: str
    version: str | None  # running (deployed last)
    file_version: str | None  # in the files (None: removed from them)
    state: str  # active | paused | held
    pause: Pause | None = None
    waiting: dict[str, int] = field(default_factory=dict)  # active enrollments by step
    queued: dict[str, int] = field(default_factory=dict)  # emails in the outbox by step
    sent_today: int = 0
    mail: str | None = None  # marketing | transactional | both; None: not in the files

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.key,
            "version": self.version,
            "file_version": self.file_version,
            "state": self.state,
            "pause": self.pause.as_dict() if self.pause else None,
            "waiting": self.waiting,
            "queued": self.queued,
            "sent_today": self.sent_today,
            "mail": self.mail,
        }


def mail_of(campaign: Campaign) -> str:
    """What its emails are: ``marketing``, ``transactional``, or ``both`` kinds."""
    kinds = {campaign.mail_kind(step) for step in campaign.send_steps} or {campaign.mail}
    return kinds.pop() if len(kinds) == 1 else "both"


def start_of_today(now: datetime, timezone: str) -> datetime:
    """Midnight of today in the workspace's time zone: where "sent today" begins."""
    local = now.astimezone(zone(timezone))
    return datetime.combine(local.date(), time(0), tzinfo=local.tzinfo)


def campaign_states(
    conn: Connection,
    program: Program | None,
    now: datetime,
    timezone: str,
) -> tuple[list[CampaignState], Pause | None]:
    """Every campaign in the files or still holding leads or mail; and the workspace's own pause.

    A campaign is ``held`` when the version in the files was held (over the plan limits) and is
    neither deployed nor confirmed yet.
    """
    pauses = {p.campaign_key: p for p in open_pauses(conn)}
    deployed = deployed_versions(conn)
    holds = held_versions(conn)
    confirmed = approvals(conn)
    files = {k: content_hash(c) for k, c in (program.campaigns.items() if program else ())}
    e, m = enrollments.c, messages.c
    waiting: dict[str, dict[str, int]] = {}
    for key, step, count in conn.execute(
        select(e.campaign_key, e.step_id, func.count())
        .where(e.status == "active")
        .group_by(e.campaign_key, e.step_id)
    ):
        waiting.setdefault(key, {})[step or "-"] = int(count)
    queued: dict[str, dict[str, int]] = {}
    for key, step, count in conn.execute(
        select(m.campaign_key, m.step_id, func.count())
        .where(m.kind.in_(CAMPAIGN_MAIL), m.status.in_(("queued", "claimed", "sending")))
        .group_by(m.campaign_key, m.step_id)
    ):
        if key:
            queued.setdefault(key, {})[step or "-"] = int(count)
    sent = sent_since(conn, start_of_today(now, timezone))
    states = []
    for key in sorted(set(files) | set(deployed) | set(waiting) | set(queued)):
        pause = pauses.get(key) or pauses.get(ALL_MARKETING)
        version = files.get(key)
        held = (
            version is not None
            and version != deployed.get(key)
            and version in holds.get(key, set())
            and (key, version) not in confirmed
        )
        state = "held" if held else ("paused" if pause else "active")
        states.append(
            CampaignState(
                key,
                deployed.get(key),
                files.get(key),
                state,
                pause,
                waiting.get(key, {}),
                queued.get(key, {}),
                sent.get(key, 0),
                mail_of(program.campaigns[key]) if program and key in program.campaigns else None,
            )
        )
    return states, pauses.get(ALL_MARKETING)
