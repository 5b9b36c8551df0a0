"""Building blocks shared by every kind: the strict base model and the value types marketers write."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    Tag,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from nurture.days_off import DaysOff, known_subdivision
from nurture.definitions.problems import did_you_mean
from nurture.durations import format_duration, parse_duration
from nurture.i18n.locale_choice import NotALocale, language_tag, parse_locale
from nurture.leads.addresses import InvalidAddress, normalise_email
from nurture.leads.fields import COUNTRIES
from nurture.timewindows import WeeklyHours, parse_days, parse_hours
from nurture.zones import zone


class DefinitionModel(BaseModel):
    """Strict, immutable models: an unknown key is an error with the nearest valid key suggested."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, str_strip_whitespace=False)

    # Said after "unknown key 'x'" when that key most likely belongs somewhere else.
    unknown_key_hint: ClassVar[str] = ""

    @classmethod
    def allowed_keys(cls) -> list[str]:
        return [f.alias or name for name, f in cls.model_fields.items()]

    @classmethod
    def unknown_key_message(cls, key: str, data: dict[str, Any]) -> str:
        """What to say about a key this kind of mapping does not have."""
        return f"unknown key {key!r}{did_you_mean(key, cls.allowed_keys())}{cls.unknown_key_hint}"

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            allowed = cls.allowed_keys()
            for key in data:
                if key not in allowed:
                    message = cls.unknown_key_message(str(key), data)
                    raise PydanticCustomError("unknown_key", "{message}", {"message": message, "key": key})
        return data


def invalid(kind: str, message: str) -> PydanticCustomError:
    """A validation error whose message is shown as written (braces and all)."""
    return PydanticCustomError(kind, "{message}", {"message": message})


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise invalid(
            "duration", f"{value!r} is not a duration; write a number and a unit: 30s, 15m, 4h, 2d or 1w"
        )
    try:
        delta = parse_duration(value)
    except ValueError as exc:
        raise invalid("duration", str(exc)) from None
    if delta <= timedelta(0):
        raise invalid("duration", "a duration must be longer than zero")
    return delta


DURATION_PATTERN = r"^\s*\d+\s*[smhdw]\s*$"

Duration = Annotated[
    timedelta,
    BeforeValidator(_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A duration: a whole number and a unit, 30s, 15m, 4h, 2d or 1w.",
            "examples": ["2d", "4h", "1w"],
        }
    ),
]

_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")


def _key(value: str) -> str:
    if not _KEY.match(value):
        raise invalid(
            "key", f"{value!r} is not a valid key: use lower-case letters, digits, '-' and '_' (at most 100)"
        )
    return value


Key = Annotated[
    str,
    AfterValidator(_key),
    WithJsonSchema(
        {"type": "string", "pattern": _KEY.pattern, "description": "A key: lower-case, digits, - and _."}
    ),
]


def _email(value: str) -> str:
    try:
        return normalise_email(value)
    except InvalidAddress as exc:
        raise invalid("email", str(exc)) from None


EmailAddress = Annotated[
    str,
    AfterValidator(_email),
    WithJsonSchema({"type": "string", "format": "email", "description": "An e-mail address."}),
]


def checked_sender(value: str) -> str:
    """A sender as written (``Name <address>`` or an address); the address checked."""
    # "Name <address>" or a bare address; only the address part is checked.
    match = re.fullmatch(r"\s*(?:(.*?)\s*<([^<>]+)>|([^<>\s]+))\s*", value)
    address = (match.group(2) or match.group(3)) if match else None
    if address is None or "\n" in value or "\r" in value:
        raise invalid("sender", f"{value!r} is not a sender; write an address or 'Name <address>'")
    _email(address)
    return value.strip()


Sender = Annotated[
    str,
    AfterValidator(checked_sender),
    WithJsonSchema(
        {
            "type": "string",
            "description": "An address, or 'Name <address>'.",
            "examples": ["Taktwerk <hallo@example.com>"],
        }
    ),
]


def _timezone(value: str) -> str:
    try:
        zone(value)
    except ValueError as exc:
        raise invalid("timezone", str(exc)) from None
    return value


TimeZoneName = Annotated[
    str,
    AfterValidator(_timezone),
    WithJsonSchema({"type": "string", "description": "An IANA time zone, e.g. Europe/Berlin."}),
]


def _locale(value: str) -> str:
    try:
        return language_tag(parse_locale(value, strict=True))
    except NotALocale as exc:
        raise invalid("locale", str(exc)) from None


LocaleTag = Annotated[
    str,
    AfterValidator(_locale),
    WithJsonSchema({"type": "string", "description": "A locale, e.g. de, de-CH, en-GB."}),
]


def _country(value: str) -> str:
    code = value.upper()
    if code not in COUNTRIES:
        raise invalid("country", f"{value!r} is not an ISO 3166 alpha-2 country code (e.g. DE, AT, CH)")
    return code


CountryCode = Annotated[
    str,
    AfterValidator(_country),
    WithJsonSchema(
        {"type": "string", "pattern": "^[A-Za-z]{2}$", "description": "ISO 3166 alpha-2, e.g. DE."}
    ),
]


def _days(value: str) -> str:
    try:
        parse_days(value)
    except ValueError as exc:
        raise invalid("days", str(exc)) from None
    return value


def _hours(value: str) -> str:
    try:
        parse_hours(value)
    except ValueError as exc:
        raise invalid("hours", str(exc)) from None
    return value


Days = Annotated[
    str,
    AfterValidator(_days),
    WithJsonSchema(
        {
            "type": "string",
            "description": "Days of the week: mon-fri, sat,sun, mon,wed-fri, daily, weekdays or weekends.",
            "examples": ["mon-fri", "daily"],
        }
    ),
]
Hours = Annotated[
    str,
    AfterValidator(_hours),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\s*\d{1,2}:\d{2}\s*-\s*\d{1,2}:\d{2}\s*$",
            "description": 'Daily hours "HH:MM-HH:MM"; "22:00-06:00" crosses midnight, '
            '"00:00-24:00" is the whole day.',
            "examples": ["09:00-17:00"],
        }
    ),
]


class SendWindow(DefinitionModel):
    """When a campaign may send: days and hours in the lead's zone or a fixed one."""

    days: Days = Field(description="Days on which emails may go out, e.g. mon-fri.")
    hours: Hours = Field(description='Hours in which emails may go out, e.g. "09:00-17:00".')
    timezone: str = Field(
        default="lead",
        description="'lead' for each lead's own time zone (else the workspace default), or an IANA zone.",
    )

    @model_validator(mode="after")
    def _zone(self) -> SendWindow:
        if self.timezone != "lead":
            try:
                zone(self.timezone)
            except ValueError as exc:
                raise invalid("timezone", f"{exc}; or write 'lead' for each lead's own zone") from None
        return self

    @property
    def weekly(self) -> WeeklyHours:
        """The window as weekly hours, for the calendar maths in :mod:`nurture.timewindows`."""
        return WeeklyHours.parse(self.days, self.hours)


def _holidays_form(value: Any) -> str:
    """A mapping names a country; anything else is a list of dates (one error, not one per form)."""
    return "country" if isinstance(value, dict | PublicHolidays) else "dates"


class PublicHolidays(DefinitionModel):
    """A country's public holidays (the ``holidays`` library), and any further days off."""

    country: CountryCode = Field(description="The country (ISO alpha-2), e.g. DE.")
    subdivision: str | None = Field(
        default=None, description="A state or region as the library names it, e.g. BY (Bavaria)."
    )
    also: tuple[date, ...] = Field(default=(), description="Further days off, e.g. [2026-12-24].")

    @model_validator(mode="after")
    def _known(self) -> PublicHolidays:
        problem = known_subdivision(self.country, self.subdivision)
        if problem is not None:
            raise invalid("holidays", problem)
        return self


class WorkingHours(DefinitionModel):
    """A rep's working week; the SLA's clock only runs inside it."""

    timezone: TimeZoneName = Field(description="The rep's IANA time zone, e.g. Europe/Berlin.")
    days: Days = Field(default="mon-fri", description="Working days, e.g. mon-fri.")
    hours: Hours = Field(default="09:00-17:00", description='Working hours, e.g. "08:00-18:00".')
    holidays: Annotated[
        Annotated[tuple[date, ...], Tag("dates")] | Annotated[PublicHolidays, Tag("country")],
        Discriminator(_holidays_form),
    ] = Field(
        default=(),
        description="Days off the SLA clock skips: dates ([2026-12-24, 2026-12-31]) or a country's "
        "public holidays ({country: DE, subdivision: BY, also: [2026-12-24]}).",
    )

    @property
    def days_off(self) -> DaysOff:
        if isinstance(self.holidays, PublicHolidays):
            rule = self.holidays
            return DaysOff(frozenset(rule.also), rule.country, rule.subdivision)
        return DaysOff(frozenset(self.holidays))

    @property
    def weekly(self) -> WeeklyHours:
        """The working week as weekly hours, days off closed."""
        weekly = WeeklyHours.parse(self.days, self.hours)
        return WeeklyHours(weekly.days, weekly.start, weekly.end, self.days_off)
