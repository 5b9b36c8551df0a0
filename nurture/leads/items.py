"""One lead as a system sends it (``POST /api/leads``): checked values, or every field that is wrong.

An item is a JSON object with the columns of a lead file::

    {"email": "anna@example.com", "first_name": "Anna", "company_size": 250, "country": "DE",
     "attributes": {"source": "webinar"}, "interests": ["CRM"],
     "consent": {"topic": "newsletter", "text_version": "2026-01", "source": "webinar-tool"}}

Like a file's columns, a key that is no lead field is kept as a custom attribute; objects belong
under ``attributes``. Unlike a file's row, an item is answered with all of its wrong fields at
once, and none of it is stored while one is wrong: a system fixing its mapping sees everything
to fix in one answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from nurture.json_kinds import json_kind
from nurture.leads.consent import CONSENT_STATES, GivenConsent
from nurture.leads.validate import LeadValues, RowInvalid, SkippedFields, validate_record

CONSENT_KEY = "consent"
MAX_TOPIC = 100
MAX_TEXT_VERSION = 100
MAX_SOURCE = 100
MAX_IP = 45
MAX_CONSENTS = 20
MAX_FUTURE = timedelta(minutes=5)  # clock skew between the sender and us


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"field": self.field, "error": self.message}


@dataclass
class CheckedLead:
    values: LeadValues | None  # None when the item is rejected
    consents: list[GivenConsent] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)


def check_lead(item: Any, now: datetime, *, default_source: str = "api") -> CheckedLead:
    """Check one item; its values and consents, or every field that is wrong."""
    if not isinstance(item, Mapping):
        return CheckedLead(None, errors=[FieldError("", f"a lead is a JSON object, not {json_kind(item)}")])
    errors: list[FieldError] = []
    email = item.get("email")
    if not email and item.get("external_id") not in (None, ""):
        # Items naming a stored lead by its number were given its address before checking.
        known = f"no lead has external_id {str(item['external_id'])[:80]!r}; give the email to create one"
        return CheckedLead(None, errors=[FieldError("email", known)])
    if email is not None and not isinstance(email, str):
        errors.append(FieldError("email", f"must be a string, not {json_kind(email)}"))
    consents = _consents(item.get(CONSENT_KEY), now, default_source, errors)
    values: LeadValues | None = None
    skipped: SkippedFields = []
    fields = {key: value for key, value in item.items() if key != CONSENT_KEY}
    attributes = fields.get("attributes")
    if attributes is not None and not isinstance(attributes, Mapping):
        errors.append(FieldError("attributes", f"must be an object, not {json_kind(attributes)}"))
        fields.pop("attributes")
    if not errors or errors[0].field != "email":
        try:
            values = validate_record(fields, skipped)
        except RowInvalid as exc:
            errors.insert(0, FieldError(exc.column or "", exc.reason))
    errors += [FieldError(column, reason) for column, reason in skipped]
    if errors:
        return CheckedLead(None, errors=errors)
    return CheckedLead(values, consents)


def _consents(raw: Any, now: datetime, default_source: str, errors: list[FieldError]) -> list[GivenConsent]:
    if raw is None:
        return []
    given = raw if isinstance(raw, list) else [raw]
    if len(given) > MAX_CONSENTS:
        errors.append(FieldError(CONSENT_KEY, f"at most {MAX_CONSENTS} consents per lead"))
        return []
    found: list[GivenConsent] = []
    for position, entry in enumerate(given):
        name = f"{CONSENT_KEY}[{position}]" if isinstance(raw, list) else CONSENT_KEY
        if not isinstance(entry, Mapping):
            errors.append(FieldError(name, f"must be an object, not {json_kind(entry)}"))
            continue
        before = len(errors)
        unknown = sorted(set(entry) - {"topic", "status", "at", "source", "text_version", "ip"})
        if unknown:
            errors.append(
                FieldError(f"{name}.{unknown[0]}", "is not a consent field (topic, status, at, source, "
                           "text_version, ip)")
            )  # fmt: skip
        topic = _text(entry, "topic", MAX_TOPIC, name, errors, required=True)
        status = _text(entry, "status", 16, name, errors) or "confirmed"
        if status not in CONSENT_STATES:
            errors.append(FieldError(f"{name}.status", f"is one of {', '.join(CONSENT_STATES)}"))
        source = _text(entry, "source", MAX_SOURCE, name, errors)
        text_version = _text(entry, "text_version", MAX_TEXT_VERSION, name, errors)
        ip = _text(entry, "ip", MAX_IP, name, errors)
        at = _instant(entry.get("at"), now, f"{name}.at", errors)
        if len(errors) == before and topic is not None:
            found.append(
                GivenConsent(
                    topic, status, at, f"{default_source}:{source}" if source else default_source,
                    text_version, ip,
                )
            )  # fmt: skip
    return found


def _text(
    entry: Mapping[str, Any],
    key: str,
    limit: int,
    name: str,
    errors: list[FieldError],
    *,
    required: bool = False,
) -> str | None:
    value = entry.get(key)
    if value is None or value == "":
        if required:
            errors.append(FieldError(f"{name}.{key}", "is required"))
        return None
    if not isinstance(value, str):
        errors.append(FieldError(f"{name}.{key}", f"must be a string, not {json_kind(value)}"))
        return None
    text = value.strip()
    if len(text) > limit or "\n" in text or "\r" in text:
        errors.append(FieldError(f"{name}.{key}", f"is one line of at most {limit} characters"))
        return None
    return text


def _instant(value: Any, now: datetime, name: str, errors: list[FieldError]) -> datetime:
    if value is None or value == "":
        return now
    if not isinstance(value, str):
        errors.append(FieldError(name, f"must be an ISO-8601 string, not {json_kind(value)}"))
        return now
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        errors.append(FieldError(name, f"{value[:60]!r} is not an ISO-8601 date and time"))
        return now
    instant = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    if instant > now + MAX_FUTURE:
        errors.append(FieldError(name, f"{value[:60]!r} is in the future"))
        return now
    return instant
