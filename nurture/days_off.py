"""Days off in a working week: listed dates, and a country's (and region's) public holidays from
the ``holidays`` library (MIT), looked up by year as they are needed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any


@dataclass(frozen=True)
class DaysOff:
    """``day in days_off``: a listed date, or a public holiday of ``country`` (``subdivision``)."""

    dates: frozenset[date] = frozenset()
    country: str | None = None
    subdivision: str | None = None
    _calendar: Any = field(default=None, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        if self.country is not None:
            # why: the holidays library is large; only calendars that name a country load it
            import holidays

            calendar = holidays.country_holidays(self.country, subdiv=self.subdivision)
            object.__setattr__(self, "_calendar", calendar)

    def __contains__(self, day: object) -> bool:
        if day in self.dates:
            return True
        return self._calendar is not None and isinstance(day, date) and day in self._calendar

    def __bool__(self) -> bool:
        return bool(self.dates) or self.country is not None

    def name(self, day: date) -> str | None:
        """The holiday's name (a listed date: None)."""
        return str(self._calendar.get(day)) if self._calendar is not None and day in self._calendar else None


def known_subdivision(country: str, subdivision: str | None) -> str | None:
    """None when the library knows the country (and subdivision), else what is wrong."""
    # why: the holidays library is large; only definitions that name a country load it
    import holidays

    if country not in holidays.list_supported_countries():
        return f"the holidays library has no calendar for country {country!r}"
    try:
        holidays.country_holidays(country, subdiv=subdivision)
    except (NotImplementedError, ValueError) as exc:
        known = ", ".join(holidays.list_supported_countries().get(country, ())) or "none"
        return f"{exc}; its subdivisions: {known}"
    return None
