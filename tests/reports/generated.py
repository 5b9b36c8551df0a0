"""Generated lead histories whose true conversion rates and times are known by construction.

Each lead walks lead -> mql -> sal -> sql -> opportunity -> customer; at each stage it moves on with
a fixed probability after an exponential wait with a known mean (median = mean * ln 2). MQLs not
accepted are recycled, and half of those qualify again later (they must count once). A share of SQLs
that go on skip ``opportunity`` and become customers directly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from nurture.reports.journeys import Journeys
from tests.reports.rows import journeys_of, walk

ON = {"mql": 0.3, "sal": 0.6, "sql": 0.5, "opportunity": 0.5, "customer": 0.4}
MEAN_DAYS = {"mql": 10.0, "sal": 2.0, "sql": 7.0, "opportunity": 14.0, "customer": 21.0}
REQUALIFY = 0.5
SKIP_OPPORTUNITY = 0.2


@dataclass(frozen=True)
class Truth:
    """The rate of each stage from the previous one, as the generator draws them."""

    rates: dict[str, float]


TRUTH = Truth(
    {
        "mql": ON["mql"],
        "sal": ON["sal"],
        "sql": ON["sql"],
        "opportunity": ON["opportunity"],  # skippers reached it too: it is the rate of going on
        "customer": SKIP_OPPORTUNITY + (1 - SKIP_OPPORTUNITY) * ON["customer"],
    }
)


def generate(n: int, seed: int) -> Journeys:
    chance = random.Random(seed)
    leads = []
    for lead_id in range(1, n + 1):
        created = chance.uniform(0, 60)
        path: list[tuple[str, float]] = [("lead", created)]
        at = created

        def wait(stage: str) -> float:
            return chance.expovariate(1 / MEAN_DAYS[stage])

        if chance.random() < ON["mql"]:
            at += wait("mql")
            path.append(("mql", at))
            if chance.random() < ON["sal"]:
                at += wait("sal")
                path.append(("sal", at))
                if chance.random() < ON["sql"]:
                    at += wait("sql")
                    path.append(("sql", at))
                    if chance.random() < ON["opportunity"]:
                        if chance.random() < SKIP_OPPORTUNITY:
                            at += wait("customer")
                            path.append(("customer", at))
                        else:
                            at += wait("opportunity")
                            path.append(("opportunity", at))
                            if chance.random() < ON["customer"]:
                                at += wait("customer")
                                path.append(("customer", at))
            else:
                at += 1
                path.append(("recycled", at))
                if chance.random() < REQUALIFY:
                    at += wait("mql")
                    path.append(("mql", at))
        leads.append(walk(lead_id, *path, created=created))
    return journeys_of(leads)
