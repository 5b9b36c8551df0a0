"""What an experiment is, as written in a campaign: variants of a send step, how they are judged,
a campaign's holdout, and the stable split that puts each lead in one group.

The split is a hash, not a random draw, so the same lead always lands in the same group: a retry,
a crash or a re-run of the engine can never switch it. The hash is SHA-256 of the UTF-8 text
``"<salt>/<campaign key>/<step id>/<lead id>"`` (salt ``variant`` for variants, ``holdout`` for a
holdout, whose step id is empty); its first 8 bytes, read big-endian and divided by 2**64, give a
number in [0, 1) that is uniform for all practical purposes. A variant owns the stretch of [0, 1)
proportional to its weight, in the order written. Python's ``hash()`` is never used: it changes
with every process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PlainSerializer, WithJsonSchema, field_validator

from nurture.definitions.fields import DefinitionModel, Duration, invalid
from nurture.definitions.problems import did_you_mean

# What a variant may be judged on. Opens and clicks are a person's own (machine opens and clicks
# never count); the stages are reached within the window after the send.
VARIANT_METRICS: tuple[str, ...] = ("opened", "clicked", "mql", "sal", "sql", "opportunity", "customer")
STAGE_METRICS: tuple[str, ...] = ("mql", "sal", "sql", "opportunity", "customer")

DEFAULT_MIN_EFFECT = 0.05
"""The smallest difference worth finding, when ``decide_on`` names none: 5 percentage points."""
DEFAULT_WITHIN = timedelta(days=7)
DEFAULT_HOLDOUT_WITHIN = timedelta(days=90)


def split_point(salt: str, campaign_key: str, step_id: str, lead_id: int) -> float:
    """Where a lead falls in [0, 1) for one split (see the module's description of the hash)."""
    digest = hashlib.sha256(f"{salt}/{campaign_key}/{step_id}/{lead_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _share(value: Any) -> float:
    """``10%`` (or ``2.5%``) as 0.1; a share written some other way is refused with an example."""
    if isinstance(value, float) and not isinstance(value, bool) and 0 < value < 1:
        return value  # already read (a model built in code, or a stored version read back)
    text = str(value).strip()
    if not text.endswith("%"):
        raise invalid("share", f"write a share as a percentage, e.g. 10%, not {value!r}")
    try:
        number = float(text[:-1])
    except ValueError:
        raise invalid("share", f"{value!r} is not a percentage such as 10%") from None
    if not 0 < number < 100:
        raise invalid("share", f"a share must lie between 0% and 100%, not {text}")
    return number / 100


def _format_share(value: float) -> str:
    return f"{round(value * 100, 6):g}%"


Share = Annotated[
    float,
    BeforeValidator(_share),
    PlainSerializer(_format_share, return_type=str),
    WithJsonSchema(
        {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*%\s*$", "description": "A percentage: 10%."}
    ),
]


class DecideOn(DefinitionModel):
    """How the variants are judged: the outcome, how long after the send it may happen, the
    smallest difference worth finding, and the rate the control is expected to have."""

    metric: str = Field(description="opened, clicked, mql, sal, sql, opportunity or customer.")
    within: Duration = Field(
        default=DEFAULT_WITHIN, description="How long after the send the outcome counts (default 7d)."
    )
    min_effect: Share = Field(
        default=DEFAULT_MIN_EFFECT,
        description="The smallest difference worth finding, in percentage points (default 5%).",
    )
    baseline: Share | None = Field(
        default=None,
        description="The control's expected rate, to plan the sample; without it the sample is planned "
        "for the worst case (a rate near 50%), which is safe for any rate.",
    )

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in VARIANT_METRICS:
            raise invalid(
                "metric",
                f"unknown metric {value!r}{did_you_mean(value, VARIANT_METRICS)}; "
                f"one of {', '.join(VARIANT_METRICS)}",
            )
        return value


class Holdout(DefinitionModel):
    """A campaign's holdout: the share of entering leads sent nothing, and how the campaign's lift
    is judged (``holdout: 10%`` is short for ``holdout: {share: 10%}``)."""

    share: Share = Field(description="The share of entering leads held out, e.g. 10%.")
    metric: str = Field(
        default="sql", description="The outcome the lift is judged on: sal, sql, opportunity or customer."
    )
    within: Duration = Field(
        default=DEFAULT_HOLDOUT_WITHIN,
        description="How long after entering an outcome counts (default 90d); a lead is judged once "
        "this time has passed.",
    )
    min_effect: Share = Field(
        default=DEFAULT_MIN_EFFECT, description="The smallest lift worth finding (default 5 points)."
    )
    baseline: Share | None = Field(
        default=None,
        description="The held-out leads' expected rate, to plan the sample (default: the worst case).",
    )

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in STAGE_METRICS:
            raise invalid(
                "metric",
                f"unknown metric {value!r}{did_you_mean(value, STAGE_METRICS)}; a holdout is judged on "
                f"one of {', '.join(STAGE_METRICS)}",
            )
        return value


def _holdout(value: Any) -> Any:
    return {"share": value} if isinstance(value, str | int | float) and not isinstance(value, bool) else value


HoldoutField = Annotated[
    Holdout,
    BeforeValidator(_holdout),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*%\s*$", "description": "A share: 10%."},
                Holdout.model_json_schema(),
            ],
            "description": "holdout: 10%, or {share: 10%, metric: sql, within: 90d, min_effect: 5%}.",
        }
    ),
]


def choose_by_weight(weights: Sequence[float], point: float) -> int:
    """The index of the weight whose stretch of [0, 1) holds ``point`` (stretches proportional to
    the weights, in order)."""
    total = sum(weights)
    edge = 0.0
    for index, weight in enumerate(weights):
        edge += weight / total
        if point < edge:
            return index
    return len(weights) - 1  # rounding at the very top of the range


def worst_case_baseline(min_effect: float) -> float:
    """The control rate that needs the largest sample to find ``min_effect`` (the two rates
    straddle 50%): a plan made with it holds whatever the true rate is."""
    return 0.5 - min_effect / 2


def holdout_point(campaign_key: str, lead_id: int) -> float:
    return split_point("holdout", campaign_key, "", lead_id)


def variant_point(campaign_key: str, step_id: str, lead_id: int) -> float:
    return split_point("variant", campaign_key, step_id, lead_id)
