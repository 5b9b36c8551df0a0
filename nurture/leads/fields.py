"""The lead's standard fields and how a value from a file becomes a stored value."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from nurture.store.schema import LIFECYCLE_STAGES
from nurture.zones import zone

# ISO 3166-1 alpha-2, officially assigned codes.
COUNTRIES = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
    BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
    EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
    HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
    LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
    NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
    SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
    TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW""".split()
)
_COUNTRY_HINTS = {"UK": "GB", "EL": "GR"}
_LOCALE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")
MAX_TEXT = 300
# The free-text columns and their longest accepted value, in characters.
TEXT_LIMITS = {
    "first_name": 200,
    "last_name": 200,
    "company": MAX_TEXT,
    "job_title": MAX_TEXT,
    "industry": 200,
}


def _text(limit: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        if len(value) > limit:
            raise ValueError(f"is longer than {limit} characters")
        if "\n" in value or "\r" in value or "\0" in value:
            raise ValueError("contains a line break")
        return value

    return check


def _company_size(value: str) -> int:
    cleaned = value.replace("_", "").replace(".", "").replace(",", "") if value.isascii() else value
    try:
        size = int(cleaned)
    except ValueError:
        raise ValueError(f"{value!r} is not a whole number of employees") from None
    if size < 0 or size > 10_000_000:
        raise ValueError(f"{value!r} is not a plausible number of employees")
    return size


def _country(value: str) -> str:
    code = value.upper()
    if code in COUNTRIES:
        return code
    hint = _COUNTRY_HINTS.get(code)
    suffix = f"; did you mean {hint!r}?" if hint else " (use an ISO 3166 alpha-2 code such as DE)"
    raise ValueError(f"{value!r} is not a country code{suffix}")


def _timezone(value: str) -> str:
    zone(value)
    return value


def _locale(value: str) -> str:
    if not _LOCALE.match(value):
        raise ValueError(f"{value!r} is not a locale (e.g. de-DE)")
    return value.replace("_", "-")


def _stage(value: str) -> str:
    stage = value.lower()
    if stage not in LIFECYCLE_STAGES:
        raise ValueError(f"{value!r} is not a lifecycle stage (one of {', '.join(LIFECYCLE_STAGES)})")
    return stage


# Column name -> parser from the file's text to the stored value. `email` is handled apart.
STANDARD_FIELDS: dict[str, Callable[[str], Any]] = {
    **{name: _text(limit) for name, limit in TEXT_LIMITS.items()},
    "company_size": _company_size,
    "country": _country,
    "timezone": _timezone,
    "locale": _locale,
    "lifecycle_stage": _stage,
}


def _external_id(value: str) -> str:
    return _text(200)(value)


def _created_at(value: str) -> datetime:
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value[:60]!r} is not an ISO-8601 date (e.g. 2025-05-01T09:00:00Z)") from None
    instant = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    if instant.year < 1970:
        raise ValueError(f"{value[:60]!r} is before 1970")
    return instant


# Where a lead comes from: its number in the system it was kept in (unique in the workspace) and
# when it began there. Stored on the lead, not among its fields: they never change what it is.
ORIGIN_FIELDS: dict[str, Callable[[str], Any]] = {"external_id": _external_id, "created_at": _created_at}
