"""One lead as a system sends it (``POST /api/leads``): checked values, or every field that is wrong.

An item is a JSON object with the columns of a lead file::

    {"email": "anna@example.com", "first_name": "Anna", "company_size": 250, "country": "DE",
     "attributes": {"source": "webinar"}, "interests": ["CRM"],
     "consent": {"topic": "newsletter", "text_version": "2026-01", "source": "webinar-tool"}}

Like a file's columns, a key that is no lead field is kept as a custom attribute; objects belong
under ``attributes``. A consent may also come as a lead file gives it, in flat ``consent.topic``,
``consent.source``, ... keys (:mod:`nurture.leads.consent_fields`). Unlike a file's row, an item
is answered with all of its wrong fields at once, and none of it is stored while one is wrong: a
system fixing its mapping sees everything to fix in one answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nurture.json_kinds import json_kind
from nurture.leads.consent import GivenConsent
from nurture.leads.consent_fields import Problems, consent_of_columns, given_consents
from nurture.leads.validate import LeadValues, RowInvalid, SkippedFields, validate_record


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
    fields = dict(item)
    problems: Problems = []
    # `consent` as an object (or list), or the flat `consent.topic`, ... columns of a lead file.
    consents = given_consents(consent_of_columns(fields), now, default_source, problems)
    errors += [FieldError(name, message) for name, message in problems]
    values: LeadValues | None = None
    skipped: SkippedFields = []
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
