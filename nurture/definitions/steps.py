"""The steps of a campaign: send, wait, branch, score, set, goto and exit.

A step is a mapping with exactly one of those keys (its kind) and an optional ``id``. Steps without
an id get one from their kind and position (``wait-2`` is the second step, a wait), so the engine can
address every step; give an explicit id to any step a lead may be waiting in when you edit a live
campaign, because generated ids move when steps are inserted above them.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Discriminator, Field, Tag, WithJsonSchema, field_validator

from nurture.definitions.conditions import LEAD_FIELDS, Condition
from nurture.definitions.experiments import DecideOn, choose_by_weight, variant_point
from nurture.definitions.fields import DefinitionModel, Duration, Key, Sender, invalid
from nurture.definitions.localized import LocalizedSender, LocalizedText
from nurture.definitions.problems import did_you_mean
from nurture.leads.fields import STANDARD_FIELDS

STEP_KINDS: tuple[str, ...] = ("send", "wait", "branch", "score", "set", "goto", "exit")

_TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$")


def _template_name(value: str) -> str:
    if value.endswith((".html", ".txt")):
        raise invalid(
            "template", f"write the template name without its extension: {value.rsplit('.', 1)[0]!r}"
        )
    if not _TEMPLATE_NAME.match(value) or ".." in value:
        raise invalid(
            "template",
            f"{value!r} is not a template name (e.g. trial/welcome for templates/trial/welcome.html)",
        )
    return value


def is_template_name(value: str) -> bool:
    """Whether ``value`` is written as a template name (no extension, no way out of templates/)."""
    return not value.endswith((".html", ".txt")) and bool(_TEMPLATE_NAME.match(value)) and ".." not in value


TemplateName = Annotated[
    str,
    AfterValidator(_template_name),
    WithJsonSchema(
        {
            "type": "string",
            "description": "A template under templates/, without extension: trial/welcome means "
            "templates/trial/welcome.html (and .txt when present).",
            "examples": ["trial/welcome"],
        }
    ),
]
StepId = Key


class StepModel(DefinitionModel):
    """What every step has: an id, given or generated."""

    kind: ClassVar[str]

    id: StepId | None = Field(
        default=None, description="The step's id, for branch/goto targets, opened()/clicked() and live edits."
    )

    @property
    def step_id(self) -> str:
        """The given id, or the generated one (filled in when the campaign is validated)."""
        return self.id or self.kind

    @classmethod
    def unknown_key_message(cls, key: str, data: dict[str, Any]) -> str:
        if key in STEP_KINDS:
            kinds = [k for k in STEP_KINDS if k in data]
            both = " and ".join(repr(k) for k in kinds)
            return f"a step does exactly one thing, but this one has {both}: make them separate steps"
        return super().unknown_key_message(key, data)


class Variant(DefinitionModel):
    """One version of a send step's email: the fields it writes replace the step's own."""

    unknown_key_hint = " (a variant may set template, subject, from, reply_to, layout and weight)"

    id: Key = Field(description="The variant's id, e.g. a or b; the first one is the control.")
    weight: float = Field(default=1, description="Its share of the leads, relative to the others' weights.")
    template: TemplateName | None = Field(default=None, description="Another template for this variant.")
    subject: str | None = Field(default=None, min_length=1, description="Another subject line.")
    from_: Sender | None = Field(default=None, alias="from", description="Another sender.")
    reply_to: Sender | None = Field(default=None, description="Another Reply-To address.")
    layout: str | None = Field(default=None, description="Another layout in templates/layouts/.")

    @field_validator("weight", mode="before")
    @classmethod
    def _positive(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise invalid("weight", f"a variant's weight must be a number above 0, not {value!r}")
        return value

    def overrides(self) -> dict[str, Any]:
        """The send fields this variant replaces, by their field names."""
        names = ("template", "subject", "from_", "reply_to", "layout")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}


class SendEmail(DefinitionModel):
    template: TemplateName = Field(description="Template name under templates/, e.g. trial/welcome.")
    subject: LocalizedText = Field(
        description="Subject line, a Jinja2 template over lead, campaign, step; or one per locale "
        "({de: ..., en: ...}), the workspace's locale among them (docs/languages.md).",
    )
    from_: LocalizedSender | None = Field(
        default=None,
        alias="from",
        description="Sender, else the from_address setting; or one per locale ({de: ..., en: ...}).",
    )
    reply_to: Sender | None = Field(
        default=None, description="Reply-To address, e.g. the lead's rep or sales."
    )
    layout: str | None = Field(
        default=None,
        description="A layout in templates/layouts/ (without .html), passed to the template as `layout`.",
    )
    variants: tuple[Variant, ...] = Field(
        default=(),
        description="Versions of this email to compare; each lead gets one, fixed by a stable hash.",
    )
    decide_on: DecideOn | None = Field(
        default=None, description="How the variants are judged: {metric: clicked, within: 3d}."
    )
    winner: Key | None = Field(
        default=None, description="The variant every lead gets from now on (ends the test)."
    )

    def variant(self, variant_id: str | None) -> SendEmail:
        """The email as ``variant_id`` writes it (the step's own fields where it writes none)."""
        found = next((v for v in self.variants if v.id == variant_id), None)
        return self if found is None else self.model_copy(update=found.overrides())

    @property
    def variant_ids(self) -> list[str]:
        return [v.id for v in self.variants]

    @property
    def judged_on(self) -> DecideOn:
        """How the variants are judged: as written, else clicks within 7 days."""
        return self.decide_on or DecideOn(metric="clicked")

    def chosen_variant(self, campaign_key: str, step_id: str, lead_id: int) -> str | None:
        """The variant the stable split gives this lead (None when the step has no variants)."""
        if not self.variants:
            return None
        index = choose_by_weight(
            [v.weight for v in self.variants], variant_point(campaign_key, step_id, lead_id)
        )
        return self.variants[index].id
    kind: Literal["marketing", "transactional"] | None = Field(
        default=None,
        description="transactional: an email the lead asked for (a confirmation, webinar access), sent "
        "without List-Unsubscribe and tracking, past the frequency cap and unsubscribes; else the "
        "campaign's `mail`.",
    )


class SendStep(StepModel):
    """Send one marketing email (at most once per enrollment)."""

    kind = "send"
    send: SendEmail = Field(description="The email: template and subject, optionally from/reply_to/layout.")


class WaitUntil(DefinitionModel):
    until: Condition = Field(description="Wait until this condition holds ...")
    timeout: Duration = Field(description="... but no longer than this; then the campaign goes on.")


def _wait_form(value: Any) -> str:
    return "until" if isinstance(value, dict | WaitUntil) else "duration"


class WaitStep(StepModel):
    """Pause the lead for a duration, or until a condition holds (with a timeout)."""

    kind = "wait"
    wait: Annotated[
        Annotated[Duration, Tag("duration")] | Annotated[WaitUntil, Tag("until")],
        Discriminator(_wait_form),
    ] = Field(description="A duration (2d), or {until: condition, timeout: duration}.")

    @property
    def duration(self) -> timedelta:
        """How long the wait lasts at most (the timeout of a conditional wait)."""
        return self.wait.timeout if isinstance(self.wait, WaitUntil) else self.wait

    @property
    def until(self) -> Condition | None:
        """The condition that ends the wait early, if any."""
        return self.wait.until if isinstance(self.wait, WaitUntil) else None

    def due_at(self, started_at: datetime) -> datetime:
        """When a wait that began at ``started_at`` is over at the latest."""
        return started_at + self.duration


class Branch(DefinitionModel):
    if_: Condition = Field(alias="if", description="The condition to test.")
    then: StepId = Field(description="The step id to go to when it holds.")
    else_: StepId | None = Field(
        default=None, alias="else", description="The step id to go to otherwise (default: the next step)."
    )


class BranchStep(StepModel):
    """Go to one step or another depending on a condition."""

    kind = "branch"
    branch: Branch = Field(description="{if: condition, then: step id, else: step id}.")


class ScorePoints(DefinitionModel):
    points: int = Field(ge=-1000, le=1000, description="Points to add (negative to subtract).")
    reason: str = Field(min_length=1, description="Why, as shown in the lead's score ledger.")


class ScoreStep(StepModel):
    """Add (or subtract) points, recorded in the lead's score ledger."""

    kind = "score"
    score: ScorePoints = Field(description="{points: 10, reason: ...}.")


SETTABLE_FIELDS: tuple[str, ...] = tuple(STANDARD_FIELDS)

Scalar = str | int | float | bool | None


class SetStep(StepModel):
    """Set lead fields, custom attributes (``attributes.NAME``) or the lifecycle stage."""

    kind = "set"
    set: dict[str, Scalar] = Field(
        min_length=1,
        description="Fields to set, e.g. {lifecycle_stage: recycled} or {attributes.nurtured: 'yes'}.",
    )

    @field_validator("set")
    @classmethod
    def _settable(cls, values: dict[str, Scalar]) -> dict[str, Scalar]:
        cleaned: dict[str, Scalar] = {}
        for name, value in values.items():
            if name.startswith("attributes.") and len(name) > len("attributes."):
                cleaned[name] = value
                continue
            if name not in SETTABLE_FIELDS:
                why = " (it is computed)" if name in LEAD_FIELDS else ""
                hint = did_you_mean(name, (*SETTABLE_FIELDS, "attributes.NAME"))
                raise invalid("set_field", f"cannot set lead field {name!r}{why}{hint}")
            if value is None:
                if name == "lifecycle_stage":
                    raise invalid("set_field", "lifecycle_stage cannot be cleared")
                cleaned[name] = None
                continue
            try:
                cleaned[name] = STANDARD_FIELDS[name](str(value))
            except ValueError as exc:
                raise invalid("set_field", f"{name}: {exc}") from None
        return cleaned


class GotoStep(StepModel):
    """Continue at another step."""

    kind = "goto"
    goto: StepId = Field(description="The step id to continue at.")


class ExitReason(DefinitionModel):
    reason: str = Field(description="Why the lead leaves, as recorded on the enrollment.")


class ExitStep(StepModel):
    """End the lead's enrollment here."""

    kind = "exit"
    exit: ExitReason | str | None = Field(
        description="Optional reason: `exit:`, `exit: reason` or {reason: ...}."
    )

    @property
    def reason(self) -> str:
        if isinstance(self.exit, ExitReason):
            return self.exit.reason
        return self.exit or "exit step"


def step_kind(value: Any) -> str | None:
    """The kind of a raw or validated step: the first step-kind key it has."""
    if isinstance(value, StepModel):
        return value.kind
    if isinstance(value, dict):
        return next((kind for kind in STEP_KINDS if kind in value), None)
    return None


Step = Annotated[
    Annotated[SendStep, Tag("send")]
    | Annotated[WaitStep, Tag("wait")]
    | Annotated[BranchStep, Tag("branch")]
    | Annotated[ScoreStep, Tag("score")]
    | Annotated[SetStep, Tag("set")]
    | Annotated[GotoStep, Tag("goto")]
    | Annotated[ExitStep, Tag("exit")],
    Discriminator(step_kind, custom_error_type="unknown_step_kind", custom_error_message="unknown step kind"),
]

StepKind = Literal["send", "wait", "branch", "score", "set", "goto", "exit"]


def with_generated_ids(steps: list[Any]) -> list[Any]:
    """Raw steps with an ``id`` filled in where none was written: ``<kind>-<position>``."""
    result: list[Any] = []
    for position, step in enumerate(steps, start=1):
        kind = step_kind(step)
        if isinstance(step, dict) and kind is not None and step.get("id") is None:
            step = {**step, "id": f"{kind}-{position}"}
        result.append(step)
    return result
