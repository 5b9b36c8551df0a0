"""One record from a file -> the values to store, or the reasons it cannot be stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nurture.leads.addresses import InvalidAddress, email_domain, normalise_email
from nurture.leads.consent import GivenConsent
from nurture.leads.fields import ORIGIN_FIELDS, STANDARD_FIELDS
from nurture.leads.sources import not_utf8_column

MAX_ATTRIBUTE_BYTES = 4096


@dataclass
class LeadValues:
    """What a file says about one lead. Blank cells say nothing: they never erase stored data."""

    email: str
    fields: dict[str, Any]
    attributes: dict[str, Any] = field(default_factory=dict)
    external_id: str | None = None  # the lead's number in the system it comes from
    created_at: datetime | None = None  # when it began there
    consents: list[GivenConsent] = field(default_factory=list)  # recorded once the lead is stored

    @property
    def email_domain(self) -> str:
        return email_domain(self.email)


class RowInvalid(ValueError):
    def __init__(self, column: str | None, message: str) -> None:
        super().__init__(f"{column}: {message}" if column else message)
        self.column = column
        self.reason = message


def _all_utf8(values: dict[str, Any]) -> bool:
    # One encode of the whole row is far cheaper than checking every cell of every good row.
    try:
        joined = "".join(values.values())
    except TypeError:  # JSON Lines may hold numbers, booleans or nested attributes
        joined = "".join(v for v in values.values() if isinstance(v, str))
    try:
        joined.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        text = str(value).strip()
        return text or None
    raise TypeError


def _as_text_or_none(value: Any) -> str | None:
    try:
        return _as_text(value)
    except TypeError:
        return None


# (column, reason) of the fields left out of a row stored with --on-error skip-field
SkippedFields = list[tuple[str, str]]


def validate_record(
    values: dict[str, Any], skipped: SkippedFields | None = None, *, by_external_id: bool = False
) -> LeadValues:
    """Check every column; raise RowInvalid naming the first bad one.

    With a ``skipped`` list, a bad column other than the e-mail is left out and added to it
    instead (``--on-error skip-field``): the row is stored with what is good in it.

    With ``by_external_id`` a record without an address but with an ``external_id`` names the
    lead holding that number: its values come with the address empty, which the caller fills in
    (:mod:`nurture.leads.named_rows`).

    This runs once per row of files with millions of rows, so the common case (a CSV cell,
    always text) takes the shortest path.
    """
    if not _all_utf8(values):
        column = not_utf8_column(values)
        if skipped is None or column in (None, "email", "(header)"):
            raise RowInvalid(column, "is not valid UTF-8; save the file as UTF-8 or pass --encoding")
        return _skipping_bad_text(values, skipped, by_external_id)
    email = _address(values, by_external_id)
    fields: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    origins: dict[str, Any] = {}
    parser_for = STANDARD_FIELDS.get
    for key, raw in values.items():
        if key == "email":
            continue
        try:
            if key in ORIGIN_FIELDS:
                _one_field(key, raw, ORIGIN_FIELDS[key], origins, attributes)
            else:
                _one_field(key, raw, parser_for(key), fields, attributes)
        except RowInvalid as exc:
            if skipped is None:
                raise
            skipped.append((exc.column or key, exc.reason))
    external_id = origins.get("external_id")
    if not email and external_id is None:  # the number it was named by was left out
        raise RowInvalid("email", "is missing")
    return LeadValues(email, fields, attributes, external_id, origins.get("created_at"))


def _address(values: dict[str, Any], by_external_id: bool) -> str:
    """The record's normalised address; empty for one naming its lead by ``external_id``."""
    raw_email = values.get("email")
    if raw_email is None or (isinstance(raw_email, str) and not raw_email.strip()):
        if not (by_external_id and _as_text_or_none(values.get("external_id"))):
            raise RowInvalid("email", "is missing")
        return ""
    if not isinstance(raw_email, str):
        raise RowInvalid("email", "is missing")
    try:
        return normalise_email(raw_email)
    except InvalidAddress as exc:
        raise RowInvalid("email", str(exc)) from None


def _one_field(
    key: str,
    raw: Any,
    parse: Callable[[str], Any] | None,
    fields: dict[str, Any],
    attributes: dict[str, Any],
) -> None:
    """Put one column's value where it belongs (a standard field or an attribute), or raise."""
    if type(raw) is str:
        text: str | None = raw.strip()
    else:
        if key == "attributes" and isinstance(raw, dict):
            attributes.update(_attributes(raw))
            return
        if parse is None and isinstance(raw, list):
            attributes.update(_attributes({key: raw}))  # JSON Lines: a list of tags, interests, ...
            return
        try:
            text = _as_text(raw)
        except TypeError:
            raise RowInvalid(key, "must be text or a number") from None
    if not text:
        return
    if parse is None:
        attributes.update(_attributes({key: raw if type(raw) is not str else text}))
        return
    try:
        fields[key] = parse(text)
    except ValueError as exc:
        raise RowInvalid(key, str(exc)) from None


def _skipping_bad_text(values: dict[str, Any], skipped: SkippedFields, by_external_id: bool) -> LeadValues:
    """The row without its columns that are not valid text, each of them named in ``skipped``."""
    kept: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, str) and not _all_utf8({key: value}):
            skipped.append((key, "is not valid UTF-8"))
        else:
            kept[key] = value
    return validate_record(kept, skipped, by_external_id=by_external_id)


def _attributes(raw: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, value in raw.items():
        name = str(key).strip()
        if not name or name.startswith("_"):
            raise RowInvalid(str(key), "is not a usable attribute name")
        if isinstance(value, str):
            value = value.strip()
            if not value:
                continue
            if len(value.encode("utf-8")) > MAX_ATTRIBUTE_BYTES:
                raise RowInvalid(name, f"is longer than {MAX_ATTRIBUTE_BYTES} bytes")
        elif value is None:
            continue
        elif isinstance(value, list):
            value = _list_value(name, value)
        elif not isinstance(value, (int, float, bool)):
            raise RowInvalid(name, "must be text, a number, true/false or a list of those")
        kept[name] = value
    return kept


def _list_value(name: str, value: list[Any]) -> list[Any]:
    """A list attribute (tags, interests): flat, of text, numbers or true/false, within the size limit."""
    items = [item.strip() if isinstance(item, str) else item for item in value]
    if any(not isinstance(item, (str, int, float, bool)) for item in items):
        raise RowInvalid(name, "a list may only hold text, numbers or true/false")
    if len(json.dumps(items, ensure_ascii=False).encode("utf-8")) > MAX_ATTRIBUTE_BYTES:
        raise RowInvalid(name, f"is longer than {MAX_ATTRIBUTE_BYTES} bytes")
    return items
