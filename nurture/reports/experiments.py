"""Judging experiments: each send step's variants against its control, each holdout against the
leads the campaign mailed. Figures from plain rows (see :mod:`nurture.reports.experiment_rows`).

No peeking bias: the sample each group needs is fixed in advance from the smallest effect worth
finding (``min_effect``), alpha 0.05 and power 0.8. Until every group has that many *judged* leads
(their outcome window has passed) the verdict is ``collecting``; then it is decided once, on each
group's first planned leads in send (or entry) order, so looking at the report every day, or adding
leads after the plan was reached, never changes it. With more than two variants each is compared
with the control at alpha / (variants - 1) (Bonferroni), and the sample is planned for that.

The verdict is ``winner`` when the interval of a difference excludes 0: the best variant whose
interval lies above 0, else the control when every other variant lies below it; otherwise ``no
difference`` (no difference as large as ``min_effect`` was likely to be missed, power 0.8).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from nurture.definitions import Campaign, SendStep
from nurture.definitions.experiments import Holdout, worst_case_baseline
from nurture.definitions.steps import SendEmail
from nurture.reports.proportions import ALPHA, POWER, newcombe, sample_size, wilson
from nurture.reports.rows import StageChange, funnel_rank

HOLDOUT_STAGES = ("mql", "sql", "customer")


@dataclass(frozen=True, slots=True)
class VariantSend:
    """One lead's email from a step with variants, chosen by the split (never by a winner)."""

    lead_id: int
    campaign: str
    step: str
    variant: str
    created_at: datetime
    sent_at: datetime | None
    opened_at: datetime | None  # a person's first open or click (machines left out)
    clicked_at: datetime | None  # a person's first click


@dataclass(frozen=True, slots=True)
class HoldoutMember:
    """A lead's first entry into a campaign with a holdout, and the mail it got in the window."""

    lead_id: int
    campaign: str
    held_out: bool
    entered_at: datetime
    campaign_sends: int  # emails this campaign sent the lead
    other_mail: int  # marketing emails other campaigns sent the lead in the window


def comparison_alpha(groups: int) -> float:
    """Alpha of each comparison with the control (Bonferroni over ``groups - 1`` comparisons)."""
    return ALPHA / max(1, groups - 1)


def planned_samples(
    weights: Sequence[float], min_effect: float, baseline: float | None, alpha: float
) -> list[int]:
    """Judged leads each group needs (the first is the control), groups sized by their weights."""
    rate = worst_case_baseline(min_effect) if baseline is None else baseline
    control = 0
    for weight in weights[1:]:
        control = max(control, sample_size(rate, min_effect, alpha, POWER, weight / weights[0])[0])
    return [max(1, math.ceil(control * w / weights[0] - 1e-9)) for w in weights]


def variant_plan(send: SendEmail) -> dict[str, int]:
    decide = send.judged_on
    weights = [v.weight for v in send.variants]
    alpha = comparison_alpha(len(weights))
    planned = planned_samples(weights, decide.min_effect, decide.baseline, alpha)
    return {v.id: n for v, n in zip(send.variants, planned, strict=True)}


def holdout_plan(holdout: Holdout) -> dict[str, int]:
    share = holdout.share
    held, treated = planned_samples([share, 1 - share], holdout.min_effect, holdout.baseline, ALPHA)
    return {"treated": treated, "held_out": held}


def reached(changes: Sequence[StageChange], stage: str, start: datetime, end: datetime) -> bool:
    """Whether the lead moved to ``stage`` or a later one in (start, end]."""
    rank = funnel_rank(stage)
    return any(start < c.at <= end and funnel_rank(c.to_stage) >= rank for c in changes)


def decide(
    counts: Sequence[tuple[int, int]], planned: Sequence[int], alpha: float
) -> tuple[str, int | None, list[tuple[float, float, float] | None]]:
    """The verdict over groups' (outcomes, leads), the first the control: ``collecting``, ``winner``
    (with the winning group's index) or ``no difference``; and each group's difference to the
    control with its interval at ``1 - alpha`` (None for the control or a group with no leads)."""
    control = counts[0]
    differences: list[tuple[float, float, float] | None] = [None]
    for other in counts[1:]:
        differences.append(newcombe(control, other, alpha) if control[1] and other[1] else None)
    if any(n < need for (_, n), need in zip(counts, planned, strict=True)):
        return "collecting", None, differences
    above = [(d[0], i) for i, d in enumerate(differences) if d is not None and d[1] > 0]
    if above:
        return "winner", max(above)[1], differences
    if all(d is not None and d[2] < 0 for d in differences[1:]):
        return "winner", 0, differences
    return "no difference", None, differences


def _rate(outcomes: int, leads: int) -> dict[str, Any]:
    low, high = wilson(outcomes, leads)
    return {
        "count": outcomes,
        "rate": round(outcomes / leads, 4) if leads else None,
        "rate_interval": [round(low, 4), round(high, 4)] if leads else None,
    }


def _difference(found: tuple[float, float, float] | None) -> dict[str, Any]:
    if found is None:
        return {"difference": None, "difference_interval": None}
    return {"difference": round(found[0], 4), "difference_interval": [round(found[1], 4), round(found[2], 4)]}


def judge_variants(
    step: SendStep,
    campaign: str,
    sends: Sequence[VariantSend],
    changes: Mapping[int, Sequence[StageChange]],
    now: datetime,
    promoted: str | None,
) -> dict[str, Any]:
    """One step's experiment, as the report's JSON shows it (docs/experiments.md)."""
    send = step.send
    decide_on = send.judged_on
    within = decide_on.within
    plan = variant_plan(send)
    ids = send.variant_ids
    alpha = comparison_alpha(len(ids))
    rows: list[dict[str, Any]] = []
    counts: list[tuple[int, int]] = []
    for variant in ids:
        mine = [s for s in sends if s.variant == variant]
        sent = _first_per_lead(s for s in mine if s.sent_at is not None)
        judged = [s for s in sent if s.sent_at is not None and s.sent_at + within <= now]
        sample = judged[: plan[variant]]
        outcomes = sum(_outcome(s, decide_on.metric, within, changes) for s in sample)
        counts.append((outcomes, len(sample)))
        rows.append(
            {
                "variant": variant,
                "control": variant == ids[0],
                "leads": len({s.lead_id for s in mine}),
                "sends": len(sent),
                "judged": len(judged),
                "planned": plan[variant],
                "sample": len(sample),
                "outcomes": outcomes,
                **{k: v for k, v in _rate(outcomes, len(sample)).items() if k != "count"},
            }
        )
    verdict, winner, differences = decide(counts, [plan[v] for v in ids], alpha)
    for row, found in zip(rows, differences, strict=True):
        row.update(_difference(found))
    return {
        "kind": "variants",
        "campaign": campaign,
        "step": step.step_id,
        "metric": decide_on.metric,
        "within_days": round(within / timedelta(days=1), 3),
        "min_effect": decide_on.min_effect,
        "baseline": decide_on.baseline,
        "alpha": ALPHA,
        "power": POWER,
        "confidence": round(1 - alpha, 4),
        "verdict": verdict,
        "winner": ids[winner] if winner is not None else None,
        "promoted": promoted,
        "variants": rows,
    }


def _first_per_lead(sends: Iterable[VariantSend]) -> list[VariantSend]:
    """Each lead's first email of the step, in sending order: a lead that entered the campaign
    again is one lead of the test, not two."""
    seen: set[int] = set()
    found = []
    for send in sorted(sends, key=lambda s: (s.sent_at, s.lead_id)):
        if send.lead_id not in seen:
            seen.add(send.lead_id)
            found.append(send)
    return found


def _outcome(
    send: VariantSend, metric: str, within: timedelta, changes: Mapping[int, Sequence[StageChange]]
) -> bool:
    assert send.sent_at is not None
    end = send.sent_at + within
    if metric == "opened":
        return send.opened_at is not None and send.opened_at <= end
    if metric == "clicked":
        return send.clicked_at is not None and send.clicked_at <= end
    return reached(changes.get(send.lead_id, ()), metric, send.sent_at, end)


def judge_holdout(
    campaign: Campaign,
    members: Sequence[HoldoutMember],
    changes: Mapping[int, Sequence[StageChange]],
    now: datetime,
) -> dict[str, Any]:
    """A campaign's measured lift: treated against held-out leads, as the report's JSON shows it."""
    holdout = campaign.holdout
    assert holdout is not None
    within = holdout.within
    plan = holdout_plan(holdout)
    groups: dict[str, list[HoldoutMember]] = {"treated": [], "held_out": []}
    for member in sorted(members, key=lambda m: (m.entered_at, m.lead_id)):
        groups["held_out" if member.held_out else "treated"].append(member)
    stages = tuple(dict.fromkeys((*HOLDOUT_STAGES, holdout.metric)))
    rows: list[dict[str, Any]] = []
    samples: dict[str, list[HoldoutMember]] = {}
    for name, group in groups.items():
        judged = [m for m in group if m.entered_at + within <= now]
        sample = samples[name] = judged[: plan[name]]
        outcomes = {
            stage: _rate(
                sum(reached(changes.get(m.lead_id, ()), stage, m.entered_at, m.entered_at + within)
                    for m in sample),
                len(sample),
            )
            for stage in stages
        }  # fmt: skip
        rows.append(
            {
                "group": name,
                "leads": len(group),
                "judged": len(judged),
                "planned": plan[name],
                "sample": len(sample),
                "campaign_sends_per_lead": _mean([m.campaign_sends for m in sample]),
                "other_mail_per_lead": _mean([m.other_mail for m in sample]),
                "outcomes": outcomes,
            }
        )
    lifts: dict[str, Any] = {}
    verdict = "collecting"
    for stage in stages:
        counts = [
            (rows[index]["outcomes"][stage]["count"], rows[index]["sample"]) for index in (1, 0)
        ]  # the held-out leads are the control
        stage_verdict, winner, differences = decide(counts, [plan["held_out"], plan["treated"]], ALPHA)
        lifts[stage] = _difference(differences[1])
        if stage == holdout.metric:
            verdict = stage_verdict
            lifts[stage]["verdict"] = stage_verdict
            lifts[stage]["better"] = None if winner is None else ("held_out", "treated")[winner]
    return {
        "kind": "holdout",
        "campaign": campaign.key,
        "share": holdout.share,
        "metric": holdout.metric,
        "within_days": round(within / timedelta(days=1), 3),
        "min_effect": holdout.min_effect,
        "baseline": holdout.baseline,
        "alpha": ALPHA,
        "power": POWER,
        "confidence": 1 - ALPHA,
        "verdict": verdict,
        "lift": lifts,
        "groups": rows,
    }


def _mean(values: Sequence[int]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def judge_experiments(
    campaigns: Sequence[Campaign],
    sends: Sequence[VariantSend],
    members: Sequence[HoldoutMember],
    promoted: Mapping[tuple[str, str], str],
    changes: Mapping[int, Sequence[StageChange]],
    now: datetime,
) -> list[dict[str, Any]]:
    """Every experiment: each send step with variants, then each campaign's holdout."""
    by_step: dict[tuple[str, str], list[VariantSend]] = {}
    for send in sends:
        by_step.setdefault((send.campaign, send.step), []).append(send)
    by_campaign: dict[str, list[HoldoutMember]] = {}
    for member in members:
        by_campaign.setdefault(member.campaign, []).append(member)
    found: list[dict[str, Any]] = []
    for campaign in sorted(campaigns, key=lambda c: c.key):
        for step in campaign.send_steps:
            if step.send.variants:
                key = (campaign.key, step.step_id)
                winner = step.send.winner or promoted.get(key)
                found.append(judge_variants(step, campaign.key, by_step.get(key, []), changes, now, winner))
        if campaign.holdout is not None:
            found.append(judge_holdout(campaign, by_campaign.get(campaign.key, []), changes, now))
    return found
