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

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from nurture.reports.journeys import Journey
from nurture.reports.rows import FUNNEL, Touch

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


def credited(touch: Touch) -> bool:
    """A person's engagement with a campaign's email (sends alone earn nothing)."""
    return touch.kind != "sent" and touch.campaign is not None and touch.step is not None


def attribute(
    leads: Sequence[Journey],
    touches: Mapping[int, Sequence[Touch]],
    revenue: Mapping[int, tuple[float, str]],
    model: str,
    half_life: timedelta = DEFAULT_HALF_LIFE,
) -> list[Credit]:
    """Credits per campaign step, most customers (then MQLs) first."""
    attribution = Attribution(revenue, model, half_life)
    for j in leads:
        attribution.add(j, touches.get(j.lead.id, ()))
    return attribution.credits()


class Attribution:
    """The credits taken one lead at a time (in the cohort's order, so the sums come out the same
    however the touches were read), so a million leads' touches are never held at once."""

    def __init__(
        self, revenue: Mapping[int, tuple[float, str]], model: str, half_life: timedelta = DEFAULT_HALF_LIFE
    ) -> None:
        self.revenue, self.model, self.half_life = revenue, model, half_life
        self._credits: dict[tuple[str, str], Credit] = {}

    def add(self, j: Journey, touches: Sequence[Touch]) -> None:
        credits, revenue = self._credits, self.revenue
        # Each credited touch's instant and campaign step (what credited() checks, inline: a
        # million leads touch some ten million times).
        own = [
            (t.at, (t.campaign, t.step))
            for t in touches
            if t.kind != "sent" and t.campaign is not None and t.step is not None
        ]
        arrivals = j.arrivals
        for stage, rank in _CONVERSION_RANKS:
            converted = arrivals[rank]
            if converted is None:
                continue
            before = [touch for touch in own if touch[0] <= converted]
            shares: dict[tuple[str, str], float] = defaultdict(float)
            for (_, key), weight in zip(
                before, weights([at for at, _ in before], converted, self.model, self.half_life), strict=True
            ):
                shares[key] += weight
            if not before:
                shares[NO_TOUCH] = 1.0
            for key, weight in shares.items():
                credit = credits.get(key)
                if credit is None:
                    credit = credits[key] = Credit(*key)
                if stage == "mql":
                    credit.mqls += weight
                elif stage == "sql":
                    credit.sqls += weight
                else:
                    credit.customers += weight
                    if j.lead.id in revenue:
                        amount, currency = revenue[j.lead.id]
                        credit.revenue[currency] = credit.revenue.get(currency, 0.0) + weight * amount

    def credits(self) -> list[Credit]:
        # Not rounded: rounded shares would no longer add up to the number of conversions.
        return sorted(self._credits.values(), key=lambda c: (-c.customers, -c.mqls, c.campaign, c.step))


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
