"""Attribution: which campaigns and emails earned the MQLs, SQLs, customers and revenue.

Conversions: the cohort's leads reaching ``mql``, ``sql`` and ``customer`` (or a later stage: a
skipped stage is reached all the same), each once, at its first arrival; revenue is the amount
recorded when the lead became a customer. Touches: a person's engagement with a campaign's email
(opens, clicks; privacy proxies and scanners never earn credit) up to the conversion. Each conversion
hands out exactly 1 credit: to its touches under the chosen model, or to ``(no touch)`` when it had
none, so the credits of a column add up to its number of conversions.

Models: ``first`` and ``last`` give all to one touch; ``linear`` shares equally; ``u_shaped`` gives
40 % each to the first and last and shares 20 % among the others (half each with two touches);
``time_decay`` weighs each touch by 2^(-age / half-life), age counted back from the conversion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from nurture.reports.instants import NEVER
from nurture.reports.journeys import Journeys
from nurture.reports.rows import FUNNEL
from nurture.reports.touch_columns import Touches

MODELS = ("first", "last", "linear", "u_shaped", "time_decay")
CONVERSIONS = ("mql", "sql", "customer")
NO_TOUCH = ("(no touch)", "")
_CONVERSION_RANKS = tuple((stage, FUNNEL.index(stage)) for stage in CONVERSIONS)
DEFAULT_HALF_LIFE = timedelta(days=7)


@dataclass
class Credit:
    campaign: str
    step: str
    mqls: float = 0.0
    sqls: float = 0.0
    customers: float = 0.0
    revenue: dict[str, float] = field(default_factory=dict)  # per currency


def weights(
    touched: Sequence[datetime], converted: datetime, model: str, half_life: timedelta
) -> list[float]:
    """The share of one conversion each touch earns (touches in time order); they sum to 1."""
    n = len(touched)
    if n == 0:
        return []
    if model == "first":
        return [1.0] + [0.0] * (n - 1)
    if model == "last":
        return [0.0] * (n - 1) + [1.0]
    if model == "linear" or (model == "u_shaped" and n <= 2):
        return [1.0 / n] * n
    if model == "u_shaped":
        middle = 0.2 / (n - 2)
        return [0.4] + [middle] * (n - 2) + [0.4]
    if model == "time_decay":
        raw = [0.5 ** ((converted - at) / half_life) for at in touched]
        total = sum(raw)
        return [w / total for w in raw]
    raise ValueError(f"attribution model must be one of {', '.join(MODELS)}, not {model!r}")


def attribute(
    journeys: Journeys,
    members: np.ndarray,
    touches: Touches,
    revenue: Mapping[int, tuple[float, str]],
    model: str,
    half_life: timedelta = DEFAULT_HALF_LIFE,
) -> list[Credit]:
    """Credits per campaign step for the conversions of ``members`` (rows), most customers (then
    MQLs) first; ``revenue``: the customer deal by lead row. All conversions of a stage at once:
    each touch's share of its conversion is worked out from its place among the lead's touches
    before the conversion (they are in time order, lead by lead)."""
    if model not in MODELS:
        raise ValueError(f"attribution model must be one of {', '.join(MODELS)}, not {model!r}")
    chosen = np.zeros(len(journeys), dtype=bool)
    chosen[members] = True
    tally = _Tally(journeys, chosen, revenue, len(touches.steps.texts))
    credited = (touches.step >= 0) & chosen[touches.lead]
    for begin, end in touches.blocks():
        for stage, rank in _CONVERSION_RANKS:
            tally.add(
                stage, journeys.arrivals[:, rank], touches.lead[begin:end], touches.at[begin:end],
                touches.step[begin:end], credited[begin:end], model, half_life,
            )  # fmt: skip
    return tally.credits(touches)


class _Tally:
    """The credits of each stage's conversions, added up block by block of touches."""

    def __init__(
        self, journeys: Journeys, chosen: np.ndarray, revenue: Mapping[int, tuple[float, str]], steps: int
    ) -> None:
        size = len(journeys)
        self.journeys, self.chosen, self.steps = journeys, chosen, steps
        self.amounts = np.zeros(size)
        self.currencies = sorted({currency for _, currency in revenue.values()})
        self.currency_of = np.full(size, -1, dtype=np.int64)
        for row, (amount, currency) in revenue.items():
            self.amounts[row], self.currency_of[row] = amount, self.currencies.index(currency)
        self.earned = np.zeros((len(self.currencies), steps + 1))  # the last column: (no touch)
        self.earning = np.zeros((len(self.currencies), steps + 1), dtype=bool)  # revenue credited it
        self.touched_steps = np.zeros(steps, dtype=bool)
        self.had_touch = {stage: np.zeros(size, dtype=bool) for stage in CONVERSIONS}
        self.counted = {stage: np.zeros(steps) for stage in CONVERSIONS}

    def add(
        self, stage: str, converted: np.ndarray, leads: np.ndarray, at: np.ndarray, steps: np.ndarray,
        credited: np.ndarray, model: str, half_life: timedelta,
    ) -> None:  # fmt: skip
        """The shares of a block's touches in the conversions to ``stage`` (``converted``: when
        each lead converted, by row)."""
        when = converted[leads]
        picked = np.flatnonzero(credited & (when != NEVER) & (at <= when))
        lead = leads[picked]
        share = conversion_shares(lead, at[picked], when[picked], model, half_life)
        step = steps[picked]
        self.touched_steps[step] = True
        self.counted[stage] += np.bincount(step, weights=share, minlength=self.steps)
        self.had_touch[stage][lead] = True
        if stage == "customer":
            for code in range(len(self.currencies)):
                own = self.currency_of[lead] == code
                self.earned[code, : self.steps] += np.bincount(
                    step[own], weights=share[own] * self.amounts[lead[own]], minlength=self.steps
                )
                self.earning[code, step[own]] = True

    def credits(self, touches: Touches) -> list[Credit]:
        """Every step's credits, and ``(no touch)``'s: the conversions no touch came before."""
        steps, totals = self.steps, {}
        for stage, rank in _CONVERSION_RANKS:
            converted = self.journeys.arrivals[:, rank]
            untouched = self.chosen & (converted != NEVER) & ~self.had_touch[stage]
            totals[stage] = np.r_[self.counted[stage], np.count_nonzero(untouched)]
            if stage == "customer":
                for code in range(len(self.currencies)):
                    paying = untouched & (self.currency_of == code)
                    self.earned[code, steps] = self.amounts[paying].sum()
                    self.earning[code, steps] = paying.any()
        credits = []
        for code in [*np.flatnonzero(self.touched_steps), steps]:
            if code == steps and not any(totals[stage][steps] for stage in CONVERSIONS):
                continue
            campaign, step_id = NO_TOUCH if code == steps else touches.step_of(int(code))
            credit = Credit(
                campaign,
                step_id,
                float(totals["mql"][code]),
                float(totals["sql"][code]),
                float(totals["customer"][code]),
            )
            for index, currency in enumerate(self.currencies):
                if self.earning[index, code]:
                    credit.revenue[currency] = float(self.earned[index, code])
            credits.append(credit)
        # Not rounded: rounded shares would no longer add up to the number of conversions.
        return sorted(credits, key=lambda c: (-c.customers, -c.mqls, c.campaign, c.step))


def conversion_shares(
    lead: np.ndarray, at: np.ndarray, converted: np.ndarray, model: str, half_life: timedelta
) -> np.ndarray:
    """Each touch's share of its lead's conversion (``lead`` grouped, touches in time order)."""
    if len(lead) == 0:
        return np.zeros(0)
    starts = np.flatnonzero(np.r_[True, lead[1:] != lead[:-1]])
    counts = np.diff(np.r_[starts, len(lead)])
    n = np.repeat(counts, counts)
    position = np.arange(len(lead)) - np.repeat(starts, counts)
    found: np.ndarray
    if model == "first":
        found = (position == 0).astype(np.float64)
    elif model == "last":
        found = (position == n - 1).astype(np.float64)
    elif model == "linear":
        found = 1.0 / n
    elif model == "u_shaped":
        ends = (position == 0) | (position == n - 1)
        middle = 0.2 / np.maximum(n - 2, 1)
        found = np.where(n <= 2, 1.0 / n, np.where(ends, 0.4, middle))
    else:
        raw = 0.5 ** ((converted - at) / (half_life // timedelta(microseconds=1)))
        found = raw / np.repeat(np.add.reduceat(raw, starts), counts)
    return found


def by_campaign(credits: Sequence[Credit]) -> dict[str, Credit]:
    """The step credits summed per campaign."""
    totals: dict[str, Credit] = {}
    for c in credits:
        total = totals.setdefault(c.campaign, Credit(c.campaign, ""))
        total.mqls += c.mqls
        total.sqls += c.sqls
        total.customers += c.customers
        for currency, amount in c.revenue.items():
            total.revenue[currency] = total.revenue.get(currency, 0.0) + amount
    return totals
