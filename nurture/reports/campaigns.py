"""Each campaign's figures: how its enrollments ended, and per step sends, opens and clicks.

Enrollments: those entered in the period. ``completed`` counts leads that went through the campaign
to its end, whether the last step ran out or an ``exit`` step ended it (that is how many campaigns are
written to end); ``exited`` counts leads that left early (``exit_when``, unsubscribes, suppression).
Every campaign of the program is listed, also those no lead entered. Opens and clicks are distinct
messages a person opened or clicked (privacy proxies and link scanners counted apart).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from nurture.reports.rows import Enrollment
from nurture.reports.stats import rounded, share


@dataclass
class StepFigures:
    campaign: str
    step: str
    sent: int = 0
    bounced: int = 0
    failed: int = 0
    opened: int = 0  # distinct messages opened by a person
    clicked: int = 0  # distinct messages clicked by a person
    machine_opens: int = 0
    machine_clicks: int = 0
    unsubscribed: int = 0
    kind: str = "marketing"  # transactional emails are not tracked: they have no open or click rate

    @property
    def open_rate(self) -> float | None:
        return None if self.kind == "transactional" else rounded(share(self.opened, self.sent), 4)

    @property
    def click_rate(self) -> float | None:
        return None if self.kind == "transactional" else rounded(share(self.clicked, self.sent), 4)


@dataclass
class CampaignFigures:
    campaign: str
    entered: int = 0
    active: int = 0
    completed: int = 0  # went to the end, by the last step or an exit step
    exited: int = 0  # left early
    failed: int = 0
    holdout: int = 0
    steps: list[StepFigures] = field(default_factory=list)


@dataclass(frozen=True)
class CampaignShape:
    """What the report needs to know of a campaign's definition."""

    step_ids: tuple[str, ...]
    exit_step_reasons: frozenset[str]  # exit_reason an ``exit`` step records


Entries = Counter[tuple[str, str, str | None]]
"""Enrollments entered in the period, counted by campaign, status and exit reason."""


def entries(enrollments: Iterable[Enrollment], since: datetime | None, until: datetime | None) -> Entries:
    """:data:`Entries` of plain rows (the database counts the same in
    :func:`nurture.reports.queries.campaign_entries`)."""
    return Counter(
        (e.campaign, e.status, e.exit_reason)
        for e in enrollments
        if (since is None or e.entered_at >= since) and (until is None or e.entered_at < until)
    )


def campaign_figures(
    entered: Entries, steps: Sequence[StepFigures], shapes: Mapping[str, CampaignShape]
) -> list[CampaignFigures]:
    campaigns = {key: CampaignFigures(key) for key in shapes}
    for (campaign, status, exit_reason), count in sorted(entered.items(), key=lambda item: item[0][:2]):
        figures = campaigns.setdefault(campaign, CampaignFigures(campaign))
        figures.entered += count
        shape = shapes.get(campaign)
        if status == "exited" and shape is not None and exit_reason in shape.exit_step_reasons:
            figures.completed += count
        elif status in ("active", "completed", "exited", "failed", "holdout"):
            setattr(figures, status, getattr(figures, status) + count)

    def position(step: StepFigures) -> tuple[int, str]:
        order = shapes[step.campaign].step_ids if step.campaign in shapes else ()
        return (order.index(step.step) if step.step in order else len(order), step.step)

    for step in sorted(steps, key=position):
        campaigns.setdefault(step.campaign, CampaignFigures(step.campaign)).steps.append(step)
    return [campaigns[k] for k in sorted(campaigns)]
