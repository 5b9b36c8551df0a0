"""Money: deal sizes and revenue, campaign costs, cost per MQL and customer, and ROI.

Revenue: the amount recorded when a lead of the cohort became a customer (the latest such amount, if
a deal was recorded twice), per currency; pipeline: the same for opportunities that are not customers
(yet). Average deal size: revenue / customers with an amount. Per campaign, MQLs, customers and
revenue are the attribution credits of the chosen model; cost is the sum of ``costs.yaml`` for the
months of the period (all months without one). ROI = (attributed revenue - cost) / cost, only where
the revenue is in the cost's currency; figures in other currencies are never added up or converted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from nurture.reports.attribution import Credit
from nurture.reports.journeys import CUSTOMER, OPPORTUNITY, Journeys
from nurture.reports.rows import Cost
from nurture.reports.stats import rounded, share

DEFAULT_CURRENCY = "EUR"


@dataclass(frozen=True)
class Deal:
    lead: int  # the lead's row in the journeys
    stage: str  # opportunity | customer
    amount: float
    currency: str


@dataclass
class CampaignMoney:
    campaign: str
    cost: float
    currency: str
    mqls: float
    customers: float
    revenue: float | None  # attributed revenue in the cost's currency
    cost_per_mql: float | None
    cost_per_customer: float | None
    roi: float | None


@dataclass
class MoneyFigures:
    revenue: dict[str, float] = field(default_factory=dict)  # per currency
    pipeline: dict[str, float] = field(default_factory=dict)
    customers_with_amount: int = 0
    average_deal: dict[str, float] = field(default_factory=dict)
    campaigns: list[CampaignMoney] = field(default_factory=list)


def deals(journeys: Journeys, members: np.ndarray) -> list[Deal]:
    """Each member's latest recorded amount at ``customer``, else at ``opportunity``, by the stage
    it is at now."""
    found = []
    stages = journeys.stage
    for row, held in ((CUSTOMER, journeys.customer_deals), (OPPORTUNITY, journeys.opportunity_deals)):
        chosen = [lead for lead in held if stages[lead] == row]
        if not chosen:
            continue
        inside = np.isin(np.array(chosen, dtype=np.int64), members)
        stage = "customer" if row == CUSTOMER else "opportunity"
        for lead, keep in zip(chosen, inside, strict=True):
            if keep:
                amount, currency = held[lead]
                found.append(Deal(lead, stage, amount, currency or DEFAULT_CURRENCY))
    return sorted(found, key=lambda deal: deal.lead)


def revenue_by_lead(found: Sequence[Deal]) -> dict[int, tuple[float, str]]:
    return {d.lead: (d.amount, d.currency) for d in found if d.stage == "customer"}


def costs_in_period(
    costs: Sequence[Cost], since: datetime | None, until: datetime | None
) -> dict[str, tuple[float, str]]:
    """Each campaign's cost in the months the period touches (whole months)."""
    first = since.strftime("%Y-%m") if since else None
    last = (until - timedelta(microseconds=1)).strftime("%Y-%m") if until else None
    totals: dict[str, tuple[float, str]] = {}
    for cost in costs:
        if (first and cost.month < first) or (last and cost.month > last):
            continue
        amount, _ = totals.get(cost.campaign, (0.0, cost.currency))
        totals[cost.campaign] = (amount + cost.amount, cost.currency)
    return totals


def money_figures(
    found: Sequence[Deal],
    campaign_credits: Mapping[str, Credit],
    costs: Mapping[str, tuple[float, str]],
) -> MoneyFigures:
    """Totals, and per campaign (with a cost or a credit) what it cost and earned."""
    figures = MoneyFigures()
    revenue: dict[str, float] = defaultdict(float)
    pipeline: dict[str, float] = defaultdict(float)
    customers: dict[str, int] = defaultdict(int)
    for deal in found:
        if deal.stage == "customer":
            revenue[deal.currency] += deal.amount
            customers[deal.currency] += 1
        else:
            pipeline[deal.currency] += deal.amount
    figures.revenue = {c: round(v, 2) for c, v in sorted(revenue.items())}
    figures.pipeline = {c: round(v, 2) for c, v in sorted(pipeline.items())}
    figures.customers_with_amount = sum(customers.values())
    figures.average_deal = {c: round(revenue[c] / n, 2) for c, n in sorted(customers.items())}
    for campaign in sorted(set(costs) | set(campaign_credits) - {"(no touch)"}):
        cost, currency = costs.get(campaign, (0.0, DEFAULT_CURRENCY))
        credit = campaign_credits.get(campaign, Credit(campaign, ""))
        earned = credit.revenue.get(currency)
        figures.campaigns.append(
            CampaignMoney(
                campaign=campaign,
                cost=round(cost, 2),
                currency=currency,
                mqls=round(credit.mqls, 4),
                customers=round(credit.customers, 4),
                revenue=rounded(earned),
                cost_per_mql=rounded(share(cost, credit.mqls)) if cost else None,
                cost_per_customer=rounded(share(cost, credit.customers)) if cost else None,
                roi=rounded(share((earned or 0.0) - cost, cost), 4) if cost else None,
            )
        )
    return figures
