"""What happens next for one enrollment: pure, given the campaign, the lead and the time.

``advance`` walks the campaign from where the lead stands until it must stop: a wait that is not
over, a send held back by the send window or the frequency cap, or the end. It returns the effects
to record (sends to queue, points, field changes) and where the lead stops, and touches nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from nurture.definitions import (
    BranchStep,
    Campaign,
    ConditionError,
    Engagement,
    EvaluationContext,
    ExitStep,
    GotoStep,
    ScoreStep,
    SendStep,
    SetStep,
    WaitStep,
)

MAX_STEPS_PER_ADVANCE = 100  # a goto loop without a wait must not spin a tick forever


@dataclass(frozen=True)
class Send:
    step: SendStep


@dataclass(frozen=True)
class AddPoints:
    step_id: str
    points: int
    reason: str


@dataclass(frozen=True)
class SetFields:
    step_id: str
    values: dict[str, Any]


Effect = Send | AddPoints | SetFields


@dataclass(frozen=True)
class Park:
    """The lead stays at ``step_id`` (begun at ``started_at``) until ``due_at``."""

    step_id: str
    started_at: datetime
    due_at: datetime
    reason: str  # waiting | send window | frequency cap


@dataclass(frozen=True)
class Finish:
    status: Literal["completed", "exited", "failed"]
    reason: str
    condition_error: ConditionError | None = None  # counted per condition in the tick's report


Outcome = Park | Finish


@dataclass
class Plan:
    effects: list[Effect] = field(default_factory=list)
    outcome: Outcome = field(default_factory=lambda: Finish("completed", "all steps done"))
    steps_run: int = 0


# Asked before each send: None to send now, else the earliest time to try again and why.
SendGate = Callable[[Campaign, dict[str, Any], SendStep], tuple[datetime, str] | None]


def advance(
    campaign: Campaign,
    step_id: str,
    started_at: datetime,
    lead: dict[str, Any],
    now: datetime,
    *,
    engagement: Engagement,
    gate: SendGate,
) -> Plan:
    """Run the campaign for this lead from ``step_id`` as far as it goes at ``now``.

    ``lead`` is the lead as conditions see it; ``set`` and ``score`` steps update it in place so
    later conditions in the same walk see their effect.
    """
    plan = Plan()
    current, since = step_id, started_at
    context: EvaluationContext | None = None  # rebuilt only when a step changed the lead
    try:
        for _ in range(MAX_STEPS_PER_ADVANCE):
            if context is None:
                context = EvaluationContext(lead=lead, now=now, engagement=engagement)
                # Nothing a condition reads changes between steps of one walk unless a step
                # changes the lead, so exit_when is decided again exactly when it could differ.
                for condition in campaign.exit_when:
                    if condition.evaluate(context):
                        plan.outcome = Finish("exited", f"exit_when: {condition.source}")
                        return plan
            effects_before = len(plan.effects)
            result = _run_step(campaign, current, since, lead, now, context, gate, plan.effects)
            if isinstance(result, Park | Finish):
                plan.outcome = result
                return plan
            if any(not isinstance(e, Send) for e in plan.effects[effects_before:]):
                context = None
            plan.steps_run += 1
            following = campaign.next_step_id(current) if result is _NEXT else result
            if following is None:
                plan.outcome = Finish("completed", "all steps done")
                return plan
            current, since = following, now
        plan.outcome = Finish(
            "failed", f"over {MAX_STEPS_PER_ADVANCE} steps without a wait at step {current!r}: a goto loop?"
        )
    except ConditionError as exc:
        plan.outcome = Finish("failed", f"condition failed for this lead: {exc}", exc)
    return plan


def _run_step(
    campaign: Campaign,
    step_id: str,
    since: datetime,
    lead: dict[str, Any],
    now: datetime,
    context: EvaluationContext,
    gate: SendGate,
    effects: list[Effect],
) -> Any:
    """Do one step: returns where to stop (Park/Finish), the next step id, or ``_NEXT``."""
    step = campaign.step(step_id)
    if isinstance(step, SendStep):
        held = gate(campaign, lead, step)
        if held is not None:
            return Park(step_id, since, held[0], held[1])
        effects.append(Send(step))
    elif isinstance(step, WaitStep):
        due = step.due_at(since)
        if due > now and (step.until is None or not step.until.evaluate(context)):
            return Park(step_id, since, due, "waiting")
    elif isinstance(step, BranchStep):
        holds = step.branch.if_.evaluate(context)
        return step.branch.then if holds else (step.branch.else_ or _NEXT)
    elif isinstance(step, ScoreStep):
        effects.append(AddPoints(step_id, step.score.points, step.score.reason))
        lead["score"] = (lead.get("score") or 0) + step.score.points
    elif isinstance(step, SetStep):
        effects.append(SetFields(step_id, dict(step.set)))
        _apply_to_view(lead, step.set)
    elif isinstance(step, GotoStep):
        return step.goto
    elif isinstance(step, ExitStep):
        return Finish("exited", step.reason)
    return _NEXT


_NEXT: Any = object()  # "the step after this one", distinct from None ("no step: the end")


def _apply_to_view(lead: dict[str, Any], values: dict[str, Any]) -> None:
    attributes = dict(lead.get("attributes") or {})
    for name, value in values.items():
        if name.startswith("attributes."):
            attributes[name.removeprefix("attributes.")] = value
        else:
            lead[name] = value
    lead["attributes"] = attributes
