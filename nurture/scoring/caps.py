"""``max_per_day``: how often a rule has already scored a lead on the lead's own calendar day.

A day's scorings are its ``behavior`` lines, and its ``rescore`` lines that name an event: a rescore
that credits a capped rule with more scorings on the lead's current day than the ledger holds for
that day names the last such event on its line (:mod:`nurture.scoring.rescore`), so a rule a rescore
has credited today does not score past its cap when the next event of the day comes in. Rescore
lines for earlier days' events name none and take nothing from today's cap.

A batch asks about a few (lead, day) pairs, so only the ledger lines of those days are read: one
query per chunk joins the ledger to the days' time windows (``ix_score_ledger_lead_lines`` answers
each window). The cost follows the batch, not how much history its leads have gathered.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from nurture.scoring.state import ScoredLead
from nurture.store import bulk
from nurture.zones import zone

# A window reaches this far beyond its local midnights, more than any daylight-saving shift, so a
# day whose clock jumps never misses a line; lines of a neighbouring day that it also catches are
# told apart by their local date.
MARGIN = timedelta(hours=3)
_WINDOWS_PER_QUERY = 500  # three parameters each: well inside every driver's limit


class DailyCaps:
    """Lines per (lead, rule label, local day): those stored, plus those booked by :meth:`take`."""

    def __init__(self, default_zone: ZoneInfo) -> None:
        self.default_zone = default_zone
        self.counts: dict[tuple[int, str, date], int] = defaultdict(int)
        self._zones: dict[int, ZoneInfo] = {}

    def zone_of(self, lead: ScoredLead) -> ZoneInfo:
        """The lead's time zone, else the workspace's (also for a name that is not a zone)."""
        found = self._zones.get(lead.id)
        if found is None:
            found = self._zones[lead.id] = self.zone_named(lead.lead.get("timezone"))
        return found

    def zone_named(self, name: Any) -> ZoneInfo:
        """The zone a lead's ``timezone`` names, else the workspace's (none, or not a zone)."""
        if name:
            try:
                return zone(str(name))
            except ValueError:  # not a zone nurture knows: the workspace's stands in
                pass
        return self.default_zone

    def day(self, lead: ScoredLead, at: datetime) -> date:
        """The lead's calendar day at the instant ``at``."""
        return at.astimezone(self.zone_of(lead)).date()

    def load(
        self,
        conn: Connection,
        leads: Mapping[int, ScoredLead],
        days: Collection[tuple[int, date]],
        labels: Collection[str],
    ) -> None:
        """Count the scorings stored under ``labels`` on ``days`` ((lead id, local day) pairs)."""
        if not days or not labels:
            return
        windows = self._windows(leads, sorted(days))
        rules = sorted(labels)
        read_instant = bulk.read_instant
        convert = bulk.instants(conn)
        stored: dict[datetime, Any] = {}  # the windows of a batch share a few dozen midnights

        def instant(value: datetime) -> Any:
            found = stored.get(value)
            if found is None:
                found = stored[value] = convert(value)
            return found

        for start in range(0, len(windows), _WINDOWS_PER_QUERY):
            chunk = windows[start : start + _WINDOWS_PER_QUERY]
            params: list[Any] = [
                value for lead_id, lo, hi in chunk for value in (lead_id, instant(lo), instant(hi))
            ]
            rows = bulk.fetch_positional(
                conn,
                f"WITH w (lead_id, lo, hi) AS (VALUES {bulk.markers(len(chunk), 3)}) "  # noqa: S608 - markers only
                "SELECT s.lead_id, s.rule, s.at FROM w JOIN score_ledger s "
                "ON s.lead_id = w.lead_id AND s.at >= w.lo AND s.at < w.hi "
                "WHERE (s.kind = 'behavior' OR (s.kind = 'rescore' AND s.event_id IS NOT NULL)) "
                f"AND s.rule IN {bulk.markers(len(rules))}",
                [*params, *rules],
            )
            for lead_id, rule, stored_at in rows:
                lead = leads[int(lead_id)]
                at = read_instant(stored_at)
                if at is not None:
                    self.counts[(lead.id, rule, self.day(lead, at))] += 1

    def take(self, lead_id: int, label: str, day: date, limit: int) -> bool:
        """Whether the rule may score once more for the lead that day; books it if so."""
        key = (lead_id, label, day)
        if self.counts[key] >= limit:
            return False
        self.counts[key] += 1
        return True

    def _windows(
        self, leads: Mapping[int, ScoredLead], days: Iterable[tuple[int, date]]
    ) -> list[tuple[int, datetime, datetime]]:
        """Sorted (lead id, day) pairs as UTC windows, a lead's neighbouring days merged so that
        no ledger line is read twice."""
        merged: list[tuple[int, datetime, datetime]] = []
        for lead_id, day in days:
            lo, hi = _window(day, self.zone_of(leads[lead_id]))
            if merged and merged[-1][0] == lead_id and lo <= merged[-1][2]:
                merged[-1] = (lead_id, merged[-1][1], hi)
            else:
                merged.append((lead_id, lo, hi))
        return merged


@lru_cache(maxsize=4096)
def _window(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """A local day as a UTC window, widened by MARGIN (a batch asks for a few dozen days)."""
    return _midnight(day, tz) - MARGIN, _midnight(day + timedelta(days=1), tz) + MARGIN


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)
