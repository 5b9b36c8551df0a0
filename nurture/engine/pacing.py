"""When a send may go out: the campaign's send window and the global frequency cap.

A send outside its window, or over the cap, is deferred to the earliest moment it may go, never
dropped. The window is read in the lead's own time zone when the campaign says ``timezone: lead``
(falling back to the workspace default), so a Berlin lead and a New York lead each get mail in
their own office hours.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from nurture.definitions import Campaign, SendStep
from nurture.timewindows import next_open
from nurture.zones import zone


class SendPacing:
    """The gate one batch of enrollments shares, so the cap holds across campaigns."""

    def __init__(
        self,
        now: datetime,
        default_zone: str,
        cap: int,
        cap_window: timedelta,
        recent_sends: dict[int, list[datetime]] | None = None,
    ) -> None:
        self.now = now
        self.default_zone = default_zone
        self.cap = cap
        self.cap_window = cap_window
        self.recent: defaultdict[int, list[datetime]] = defaultdict(list, recent_sends or {})
        # Whether each campaign's window is open at ``now`` in each zone, and if not when it opens:
        # the same answer for every lead of a zone, worked out once per batch.
        self._window: dict[tuple[str, ZoneInfo], datetime | None] = {}

    def lead_zone(self, campaign: Campaign, lead: dict[str, Any]) -> ZoneInfo:
        window = campaign.send_window
        if window is not None and window.timezone != "lead":
            return zone(window.timezone)
        name = lead.get("timezone") or self.default_zone
        try:
            return zone(name)
        except ValueError:
            return zone(self.default_zone)

    def __call__(
        self, campaign: Campaign, lead: dict[str, Any], step: SendStep
    ) -> tuple[datetime, str] | None:
        """None when a send may go now; else when to try again and why."""
        if campaign.send_window is not None:
            opens = self._opens(campaign, self.lead_zone(campaign, lead))
            if opens is not None:
                return opens, "send window"
        if campaign.mail_kind(step) == "transactional":
            # Mail the lead asked for is neither held by the cap nor counted against it.
            return None
        if self.cap > 0:
            since = self.now - self.cap_window
            within = [t for t in self.recent[lead["id"]] if t > since]
            if len(within) >= self.cap:
                return min(within) + self.cap_window, "frequency cap"
        self.recent[lead["id"]].append(self.now)
        return None

    def _opens(self, campaign: Campaign, zone_: ZoneInfo) -> datetime | None:
        """None when the campaign's window is open now in this zone, else when it opens."""
        key = (campaign.key, zone_)
        if key not in self._window:
            window = campaign.send_window
            assert window is not None
            weekly = window.weekly
            opens = None
            if not weekly.contains(self.now.astimezone(zone_)):
                found = next_open(weekly, zone_, self.now)
                opens = found if found > self.now else None
            self._window[key] = opens
        return self._window[key]


def recent_by_lead(rows: Iterable[tuple[int, datetime]]) -> dict[int, list[datetime]]:
    grouped: dict[int, list[datetime]] = defaultdict(list)
    for lead_id, at in rows:
        grouped[lead_id].append(at)
    return dict(grouped)
