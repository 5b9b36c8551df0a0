"""The Campaign kind: who enters, when they leave, when mail may go out, and the steps."""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PlainSerializer, WithJsonSchema, model_validator

from nurture.definitions.conditions import Condition
from nurture.definitions.experiments import HoldoutField, holdout_point
from nurture.definitions.fields import DURATION_PATTERN, DefinitionModel, Key, SendWindow, invalid
from nurture.definitions.steps import SendStep, Step, WaitStep, with_generated_ids
from nurture.definitions.topic import DEFAULT_TOPIC
from nurture.durations import format_duration, parse_duration

ENTRY_TRIGGERS: tuple[str, ...] = ("lead_created", "event", "segment", "manual")


class Entry(DefinitionModel):
    """Who enters the campaign, and when."""

    on: Literal["lead_created", "event", "segment", "manual"] = Field(
        description="lead_created: new leads; event: when an event of `type` arrives; segment: leads "
        "matching `where`, re-evaluated; manual: only the SLA's recycle or the CLI enrol leads."
    )
    type: str | None = Field(
        default=None, description="For on: event, the event type, e.g. webinar_registered."
    )
    where: Condition | None = Field(default=None, description="Only leads (and events) for which this holds.")

    @model_validator(mode="after")
    def _consistent(self) -> Entry:
        if self.on == "event" and not self.type:
            raise invalid(
                "entry", "on: event needs the event `type` it reacts to, e.g. type: webinar_registered"
            )
        if self.on != "event" and self.type is not None:
            raise invalid("entry", f"`type` only applies to on: event (this entry is on: {self.on})")
        if self.on == "segment" and self.where is None:
            raise invalid("entry", "on: segment needs a `where` condition describing the segment")
        return self


def _re_entry(value: Any) -> timedelta | None:
    if value is None or value == "never" or isinstance(value, timedelta):
        return value if isinstance(value, timedelta) else None
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError:
            pass
    raise invalid("re_entry", f"re_entry must be 'never' or a duration such as 90d, not {value!r}")


ReEntry = Annotated[
    timedelta | None,
    BeforeValidator(_re_entry),
    PlainSerializer(lambda v: "never" if v is None else format_duration(v), return_type=str),
    WithJsonSchema(
        {
            "anyOf": [{"const": "never"}, {"type": "string", "pattern": DURATION_PATTERN}],
            "description": "'never', or a duration after which a lead that left may enter again.",
        }
    ),
]


class Campaign(DefinitionModel):
    """A nurture campaign: a sequence of steps a lead walks through once enrolled."""

    kind: Literal["Campaign"] = Field(description="Campaign")
    key: Key = Field(description="Unique key, used in reports, the CLI and the SLA's recycle.")
    name: str | None = Field(default=None, description="A readable name for reports.")
    description: str | None = Field(default=None, description="What the campaign is for.")
    entry: Entry = Field(description="Who enters, and when.")
    re_entry: ReEntry = Field(default=None, description="'never', or how long before a lead may enter again.")
    exit_when: tuple[Condition, ...] = Field(
        default=(), description="Checked before every step; a lead leaves as soon as one holds."
    )
    send_window: SendWindow | None = Field(default=None, description="When emails may go out.")
    topic: Key = Field(
        default=DEFAULT_TOPIC,
        description="The subscription topic its emails belong to (consent and topic suppressions).",
    )
    mail: Literal["marketing", "transactional"] = Field(
        default="marketing",
        description="transactional: every email of the campaign is one the lead asked for (see a send "
        "step's kind); marketing by default.",
    )
    steps: tuple[Step, ...] = Field(min_length=1, max_length=500, description="The steps, in order.")
    holdout: HoldoutField | None = Field(
        default=None,
        description="A share of entering leads (e.g. 10%) enrolled but sent nothing, to measure the "
        "campaign's lift; chosen by a stable hash of lead and campaign. Or {share, metric, min_effect, "
        "baseline}.",
    )

    @model_validator(mode="before")
    @classmethod
    def _generate_step_ids(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("steps"), list):
            return {**data, "steps": with_generated_ids(data["steps"])}
        return data

    @property
    def title(self) -> str:
        return self.name or self.key

    @property
    def step_ids(self) -> list[str]:
        """Every step's id, in order."""
        return [step.step_id for step in self.steps]

    @cached_property
    def _positions(self) -> dict[str, int]:
        # Every enrollment of every tick looks its steps up by id: a table, not a scan each time.
        # (A plain cached attribute: pydantic's private attributes cost more to read than a scan.)
        positions: dict[str, int] = {}
        for index, step in enumerate(self.steps):
            positions.setdefault(step.step_id, index)
        return positions

    def has_step(self, step_id: str) -> bool:
        return step_id in self._positions

    def step(self, step_id: str) -> Step:
        """The step with this id; KeyError when there is none."""
        return self.steps[self._positions[step_id]]

    def index_of(self, step_id: str) -> int:
        """The position of a step (0-based); KeyError when there is none."""
        return self._positions[step_id]

    def next_step_id(self, step_id: str) -> str | None:
        """The step after ``step_id`` in order, or None after the last."""
        index = self.index_of(step_id) + 1
        return self.steps[index].step_id if index < len(self.steps) else None

    def holds_out(self, lead_id: int) -> bool:
        """Whether this lead falls in the campaign's holdout (always the same answer for a lead)."""
        return self.holdout is not None and holdout_point(self.key, lead_id) < self.holdout.share

    def mail_kind(self, step: SendStep) -> str:
        """``marketing`` or ``transactional``: the step's own kind, else the campaign's."""
        return step.send.kind or self.mail

    @property
    def sends_transactional(self) -> bool:
        """Whether any of its emails is transactional: its leads stay enrolled when they leave
        marketing mail, so that those emails still reach them."""
        return any(self.mail_kind(step) == "transactional" for step in self.send_steps)

    @property
    def send_steps(self) -> list[SendStep]:
        return [step for step in self.steps if isinstance(step, SendStep)]

    @property
    def wait_steps(self) -> list[WaitStep]:
        return [step for step in self.steps if isinstance(step, WaitStep)]
