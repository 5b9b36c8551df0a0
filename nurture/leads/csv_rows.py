"""Checking CSV rows fast, with exactly the verdicts of :func:`validate_record`.

``validate_record`` is the reference: it takes any record and names the first bad column. Run
per row of a million-row file it is most of the importer's reading time, so CSV rows take a
path compiled once per file from the header: whole-row checks instead of per-cell ones, parsed
values of the few-valued columns (country, time zone, ...) remembered, the attributes' JSON
written from pre-encoded names. Whatever that path cannot accept outright, from a bad address
to an internationalised domain, goes to the reference, so every message stays its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from json.encoder import encode_basestring  # json's own (C) string encoder, as dumps uses it
from operator import itemgetter
from typing import Any

from nurture.clock import clock_from_env
from nurture.leads.addresses import ADDRESS
from nurture.leads.consent_fields import (
    consent_of_columns,
    given_consents,
    is_consent_column,
    is_flat_consent_column,
)
from nurture.leads.fields import STANDARD_FIELDS, TEXT_LIMITS
from nurture.leads.staged import FIELD_NAMES, NO_CONSENTS, NO_ORIGIN, ORIGIN_COLUMNS, StagedLead, staged
from nurture.leads.validate import MAX_ATTRIBUTE_BYTES, LeadValues, RowInvalid, SkippedFields, validate_record

RowChecker = Callable[[int, list[str]], StagedLead]
FieldSkipped = Callable[[int, str, str], None]  # (row, column, reason): --on-error skip-field

# Columns with few distinct values; a parsed value is remembered for the next row that has it.
REMEMBERED = ("company_size", "country", "timezone", "locale", "lifecycle_stage")
MAX_REMEMBERED = 4096  # per column: bounded, so a column of all-different values costs no memory
# An attribute value this long is under the byte limit whatever its characters (UTF-8: <= 4 each).
_SAFE_ATTRIBUTE = MAX_ATTRIBUTE_BYTES // 4
# A row no longer than this has no cell longer than any text limit or attribute size.
_SHORT_ROW = min(*TEXT_LIMITS.values(), _SAFE_ATTRIBUTE)
# check() unpacks the standard fields by position.
assert FIELD_NAMES == (
    "first_name", "last_name", "company", "job_title", "industry",
    "company_size", "country", "timezone", "locale", "lifecycle_stage",
)  # fmt: skip


def row_checker(
    columns: Sequence[str], skipped: FieldSkipped | None = None, *, now: datetime | None = None
) -> RowChecker:
    """A checker for rows of a file with this header: ``(row number, cells) -> StagedLead``.

    Raises RowInvalid, as the reference does, for a row that cannot be stored; with ``skipped``,
    the reference leaves a bad value other than the e-mail out and tells ``skipped`` instead.
    ``now`` is the import's time, when consents given without a time were given.
    """
    now = now if now is not None else clock_from_env().now()
    if set(ORIGIN_COLUMNS) & set(columns) or any(map(is_flat_consent_column, columns)):
        # Files brought from another tool, or saying who consented: checked one by one.
        return _reference(columns, skipped, now)
    width = len(columns)
    email_at = columns.index("email")
    # Absent standard columns read an always-blank cell appended to each row at index ``width``.
    pick = itemgetter(*(columns.index(name) if name in columns else width for name in FIELD_NAMES))
    custom = [
        (i, name)
        for i, name in enumerate(columns)
        if name != "email" and name not in STANDARD_FIELDS and name not in ORIGIN_COLUMNS
    ]
    if any(not name or name.startswith("_") for _, name in custom):
        return _reference(columns, skipped, now)  # an unusable attribute name: every value in it is an error
    keys = [(i, encode_basestring(name) + ":") for i, name in custom]
    limits = [(k, TEXT_LIMITS[name]) for k, name in enumerate(FIELD_NAMES) if name in TEXT_LIMITS]
    remembered = _Remembered()
    sizes, countries, zones, locales, stages = (remembered.lookup(name) for name in REMEMBERED)
    learn = remembered.learn
    match = ADDRESS.fullmatch
    strip = str.strip
    slow = _reference(columns, skipped, now)

    # One frame per row, locals bound above: this runs a million times for a million-row file.
    def check(row: int, cells: list[str]) -> StagedLead:
        joined = "".join(cells)
        if "\n" in joined or "\r" in joined or "\0" in joined or not (joined.isascii() or _utf8(joined)):
            return slow(row, cells)
        values = list(map(strip, cells))
        values.append("")
        email = values[email_at].lower()
        address = match(email)
        if address is None or address.end(1) > 64 or len(email) > 254:
            return slow(row, cells)
        fields = pick(values)
        if len(joined) > _SHORT_ROW and _too_long(fields, limits, values, keys):
            return slow(row, cells)
        first, last, company, title, industry, size, country, zone, locale, stage = fields
        # A remembered answer is never falsy but for company_size 0, which is then parsed again.
        try:
            size = (sizes(size) or learn("company_size", size)) if size else None
            country = (countries(country) or learn("country", country)) if country else None
            zone = (zones(zone) or learn("timezone", zone)) if zone else None
            locale = (locales(locale) or learn("locale", locale)) if locale else None
            stage = (stages(stage) or learn("lifecycle_stage", stage)) if stage else None
        except ValueError:
            return slow(row, cells)
        attributes = None
        if keys:
            parts = [key + encode_basestring(value) for i, key in keys if (value := values[i])]
            if parts:
                attributes = "{" + ",".join(parts) + "}"
        return (
            row, email, address[2], first or None, last or None, company or None, title or None,
            industry or None, size, country, zone, locale, stage, attributes, *NO_ORIGIN, NO_CONSENTS,
        )  # fmt: skip

    return check


def _reference(columns: Sequence[str], skipped: FieldSkipped | None, now: datetime) -> RowChecker:
    def check(row: int, cells: list[str]) -> StagedLead:
        return staged(row, checked_record(row, dict(zip(columns, cells, strict=True)), skipped, now))

    return check


def checked_record(
    row: int, values: dict[str, Any], skipped: FieldSkipped | None, now: datetime
) -> LeadValues:
    """:func:`validate_record` for a file's row (which may name its lead by ``external_id``
    alone, and give consents as the lead API takes them), telling ``skipped`` of each value it
    left out (when given)."""
    raw_consent = (
        consent_of_columns(values, shaped_only=True) if any(map(is_consent_column, values)) else None
    )
    left_out: SkippedFields = []
    checked = validate_record(values, left_out if skipped is not None else None, by_external_id=True)
    if raw_consent is not None:
        problems: SkippedFields = []
        # A file's consent has the source "import", or "import:SOURCE" as --consent-source says.
        checked.consents = given_consents(raw_consent, now, "import", problems)
        if problems and skipped is None:
            raise RowInvalid(*problems[0])
        left_out += problems
    if skipped is not None:
        for column, reason in left_out:
            skipped(row, column, reason)
    return checked


def _too_long(
    fields: tuple[str, ...], limits: list[tuple[int, int]], values: list[str], keys: list[tuple[int, str]]
) -> bool:
    # Attribute values are measured in bytes by the reference: it decides about the longer ones.
    return any(len(fields[k]) > limit for k, limit in limits) or any(
        len(values[i]) > _SAFE_ATTRIBUTE for i, _ in keys
    )


def _utf8(text: str) -> bool:
    # Undecodable bytes arrive as lone surrogates (surrogateescape), which UTF-8 cannot encode.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _Remembered:
    """Parsed values of the few-valued columns, remembered for the rows that repeat them (bounded)."""

    def __init__(self) -> None:
        self.answers: dict[str, dict[str, Any]] = {name: {} for name in REMEMBERED}

    def lookup(self, name: str) -> Callable[[str], Any]:
        return self.answers[name].get

    def learn(self, name: str, value: str) -> Any:
        answer = STANDARD_FIELDS[name](value)  # ValueError: the reference will say what is wrong
        answers = self.answers[name]
        if len(answers) < MAX_REMEMBERED:
            answers[value] = answer
        return answer
