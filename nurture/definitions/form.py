"""The Form kind: a web form on the workspace's sites that creates or updates a lead.

A form names its fields (what each maps to on the lead, whether it is required, how it is
checked), the consent text the visitor agrees to with its version and subscription topics,
whether the consent needs a confirmation link (double opt-in), where the visitor goes after
submitting, and which event the submission records.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from nurture.definitions.fields import DefinitionModel, Key, invalid
from nurture.definitions.problems import did_you_mean

# What a form field may fill: the lead's own fields and custom attributes. The stage is the
# business of marketing and sales, never of a visitor, so a form cannot set it.
FORM_TARGETS = (
    "email", "first_name", "last_name", "company", "job_title", "industry", "company_size",
    "country", "timezone", "locale",
)  # fmt: skip
# The event a followed confirmation link records: campaigns for a double opt-in topic start on it.
OPT_IN_CONFIRMED = "opt_in_confirmed"
FIELD_TYPES = ("text", "email", "choice", "checkbox")
RESERVED_NAMES = ("consent", "website")  # the consent box and the honeypot
_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_ATTRIBUTE = re.compile(r"^attributes\.[A-Za-z_][A-Za-z0-9_]{0,63}$")
_EVENT = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class FormField(DefinitionModel):
    """One input of the form."""

    name: str = Field(description="The input's name in the posted form (lower-case, digits, _).")
    label: str | None = Field(default=None, description="The label shown next to it (default: the name).")
    maps_to: str = Field(
        description="The lead field it fills (email, first_name, company, ...) or attributes.NAME."
    )
    type: Literal["text", "email", "choice", "checkbox"] = Field(
        default="text", description="text, email (a valid address), choice (one of choices) or checkbox."
    )
    required: bool = Field(default=False, description="A post without it is refused.")
    max_length: int = Field(default=200, ge=1, le=2000, description="Longest text accepted (characters).")
    choices: tuple[str, ...] = Field(default=(), description="The values a choice field accepts.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _FIELD_NAME.match(value):
            raise invalid("field_name", f"{value!r} is not a field name: lower-case letters, digits and _")
        if value in RESERVED_NAMES:
            kept = ", ".join(RESERVED_NAMES)
            raise invalid("field_name", f"{value!r} is kept for the form's own use ({kept})")
        return value

    @field_validator("maps_to")
    @classmethod
    def _target(cls, value: str) -> str:
        if value == "lifecycle_stage":
            raise invalid(
                "maps_to", "a form cannot set the lifecycle stage; map the field to attributes.NAME"
            )
        if value not in FORM_TARGETS and not _ATTRIBUTE.match(value):
            raise invalid(
                "maps_to",
                f"{value!r} is not a lead field{did_you_mean(value, FORM_TARGETS)} "
                "(or write attributes.NAME)",
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> FormField:
        if self.type == "choice" and not self.choices:
            raise invalid("choices", f"field {self.name!r} is a choice: list its choices")
        if self.type != "choice" and self.choices:
            raise invalid("choices", f"field {self.name!r} has choices but is not of type choice")
        if (self.maps_to == "email") != (self.type == "email"):
            raise invalid("type", "the field that maps to email has type email, and only that one")
        return self


class FormConsent(DefinitionModel):
    """What the visitor agrees to by ticking the form's consent box."""

    text: str = Field(min_length=1, max_length=2000, description="The consent text, shown as written.")
    version: str = Field(
        min_length=1, max_length=100, description="Which wording this is; kept with every consent given."
    )
    topics: tuple[Key, ...] = Field(
        default=("marketing",), min_length=1, description="The subscription topics consented to."
    )
    required: bool = Field(
        default=True, description="The box must be ticked to submit; false: consent only when ticked."
    )


class Form(DefinitionModel):
    """A web form served at ``POST /forms/KEY``."""

    kind: Literal["Form"] = Field(description="Form")
    key: Key = Field(description="The form's key: its address is /forms/KEY.")
    name: str | None = Field(default=None, description="A readable name.")
    fields: tuple[FormField, ...] = Field(min_length=1, description="The inputs; one maps to email.")
    consent: FormConsent | None = Field(default=None, description="The consent the form asks for.")
    double_opt_in: bool = Field(
        default=False, description="Consent stays pending until the link in a confirmation email is followed."
    )
    thank_you: str = Field(description="Where the visitor goes after a good post (an allowed origin).")
    event: str = Field(default="form_submit", description="The event a submission records.")
    submit_label: str | None = Field(default=None, description="The button's text in the snippet.")

    @field_validator("thank_you")
    @classmethod
    def _thank_you(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise invalid("thank_you", f"{value!r} is not an absolute http(s) URL")
        return value

    @field_validator("event")
    @classmethod
    def _event(cls, value: str) -> str:
        if not _EVENT.match(value):
            raise invalid("event", f"{value!r} is not an event type name (lower-case, digits, _)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Form:
        if self.double_opt_in and self.consent is None:
            raise invalid(
                "double_opt_in", "double_opt_in confirms a consent: add consent (text, version, topics)"
            )
        return self

    @property
    def title(self) -> str:
        return self.name or self.key

    @property
    def email_field(self) -> FormField | None:
        return next((f for f in self.fields if f.maps_to == "email"), None)
