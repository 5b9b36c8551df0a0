"""The ScoringModel kind: points for what a lead does (behaviour, fading) and who it is (fit)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from nurture.definitions.conditions import Condition
from nurture.definitions.fields import DefinitionModel, Duration, invalid

# Engagement types nurture records itself; any other name is a custom event type.
KNOWN_EVENT_TYPES: tuple[str, ...] = (
    "email_open",
    "email_click",
    "email_bounce",
    "email_complaint",
    "unsubscribe",
    "download",
    "newsletter_subscribe",
    "page_view",
    "form_submit",
    "webinar_registered",
    "webinar_attended",
    "demo_requested",
    "trial_started",
)

_EVENT_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")


def _event_type(value: str) -> str:
    if not _EVENT_TYPE.match(value):
        raise invalid("event_type", f"{value!r} is not an event type (letters, digits, _ . : -)")
    return value


EventType = Annotated[str, AfterValidator(_event_type)]


class BehaviorRule(DefinitionModel):
    """Points for an engagement event; they fade with the model's decay."""

    event: EventType = Field(description="The event type, e.g. email_click, download, page_view.")
    points: int = Field(ge=-1000, le=1000, description="Points per event (negative to subtract).")
    where: Condition | None = Field(default=None, description="Only events for which this holds.")
    max_per_day: int | None = Field(default=None, ge=1, description="At most this many scored events a day.")
    reason: str | None = Field(default=None, description="Shown in the score ledger (default: the event).")


class FitRule(DefinitionModel):
    """Points for who the lead is; recomputed when the lead changes, never fading."""

    when: Condition = Field(description="A condition over the lead.")
    points: int = Field(ge=-1000, le=1000, description="Points while it holds.")
    reason: str | None = Field(
        default=None, description="Shown in the score ledger (default: the condition)."
    )


class Decay(DefinitionModel):
    half_life: Duration = Field(description="Behaviour points halve over this time, e.g. 30d.")


class ScoringModel(DefinitionModel):
    """How a lead's score is made: fit + decayed behaviour."""

    kind: Literal["ScoringModel"] = Field(description="ScoringModel")
    name: str = Field(default="default", min_length=1, description="The model's name.")
    behavior: tuple[BehaviorRule, ...] = Field(default=(), description="Points per engagement event.")
    fit: tuple[FitRule, ...] = Field(default=(), description="Points for who the lead is.")
    decay: Decay | None = Field(default=None, description="How behaviour points fade; none means never.")

    @property
    def key(self) -> str:
        return self.name
