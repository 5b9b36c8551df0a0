"""A posted form, checked against its definition: the lead's values, or the fields in error.

Errors are (field name, code) pairs and never carry what was posted: the answer goes back into
the visitor's page as a query string, and a value copied there could be made to say anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nurture.definitions.form import Form, FormField
from nurture.leads.addresses import InvalidAddress, normalise_email
from nurture.leads.validate import RowInvalid, validate_record

HONEYPOT = "website"  # a field people never see (hidden by CSS) and bots fill in
CONSENT = "consent"
_TICKED = {"on", "yes", "true", "1"}


@dataclass(frozen=True)
class FieldError:
    """A field that stops the post: its name and a code (``required``, ``invalid_email``, ...)."""

    field: str
    code: str

    def as_json(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code}


@dataclass(frozen=True)
class Submission:
    """What a good post says: the lead record (as a leads file's row) and whether consent was given."""

    record: dict[str, Any]
    consented: bool

    @property
    def email(self) -> str:
        return str(self.record["email"])


def read_submission(form: Form, posted: Mapping[str, str]) -> Submission | list[FieldError]:
    """Check every field of ``form`` in ``posted``; all the errors at once, or the submission."""
    errors: list[FieldError] = []
    record: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for field in form.fields:
        value, code = _field_value(field, posted.get(field.name))
        if code is not None:
            errors.append(FieldError(field.name, code))
        elif value is not None:
            if field.maps_to.startswith("attributes."):
                attributes[field.maps_to.partition(".")[2]] = value
            else:
                record[field.maps_to] = value
    consented = (posted.get(CONSENT) or "").strip().lower() in _TICKED
    if form.consent is not None and form.consent.required and not consented:
        errors.append(FieldError(CONSENT, "consent_required"))
    if errors:
        return errors
    if attributes:
        record["attributes"] = attributes
    try:
        validate_record(record)  # the lead's own rules: a country code, a time zone, ...
    except RowInvalid as exc:
        return [FieldError(_field_named(form, exc.column), "invalid")]
    return Submission(record, consented and form.consent is not None)


def _field_value(field: FormField, raw: str | None) -> tuple[Any, str | None]:
    text = (raw or "").strip()
    if field.type == "checkbox":
        ticked = text.lower() in _TICKED
        if field.required and not ticked:
            return None, "required"
        return ticked, None
    if not text:
        return None, "required" if field.required else None
    if "\0" in text or "\r" in text or "\n" in text:
        return None, "invalid"
    if field.type == "email":
        try:
            return normalise_email(text), None
        except InvalidAddress:
            return None, "invalid_email"
    if field.type == "choice":
        return (text, None) if text in field.choices else (None, "not_a_choice")
    if len(text) > field.max_length:
        return None, "too_long"
    return text, None


def _field_named(form: Form, column: str | None) -> str:
    """The form field behind a lead column a lead rule refused (``attributes`` names its key)."""
    for field in form.fields:
        if field.maps_to == column or field.maps_to == f"attributes.{column}":
            return field.name
    return column or "form"
