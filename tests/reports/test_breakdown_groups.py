"""A breakdown's groups: one per value among the cohort, leads without a value (none, or an
empty text) in one "(none)" group, largest first and then by name."""

from __future__ import annotations

from typing import Any

import numpy as np

from nurture.reports.breakdown import NONE, dimension
from nurture.reports.lead_facts import RowFacts
from nurture.reports.report import ProgramFacts, ReportOptions, build_report
from nurture.reports.rows import History, Lead, StageChange
from tests.reports.rows import day

COUNTRIES: list[str | None] = ["DE", "", None, "AT", "DE", None, "FR", "AT", "DE", ""]
TIERS: list[Any] = [1, "1", None, "", "gold", 1, "gold", None, 2.5, "gold"]


def _history() -> History:
    leads = {
        i + 1: Lead(
            i + 1, f"lead{i + 1}@example.com", day(i), "mql", country=country, attributes={"tier": tier}
        )
        for i, (country, tier) in enumerate(zip(COUNTRIES, TIERS, strict=True))
    }
    changes = {
        i: [StageChange(i, None, "lead", day(i), "t"), StageChange(i, "lead", "mql", day(i + 3), "t")]
        for i in leads
    }
    return History(leads=leads, changes=changes, handoffs=[], enrollments=[], touches={})


def _groups(by: str) -> list[tuple[str, int]]:
    report = build_report(_history(), [], ProgramFacts(), ReportOptions(now=day(40), by=by))
    assert report.breakdown is not None
    return [(group.value, group.funnel.cohort) for group in report.breakdown]


def test_leads_without_a_value_or_with_an_empty_one_make_one_none_group() -> None:
    assert _groups("country") == [(NONE, 4), ("DE", 3), ("AT", 2), ("FR", 1)]


def test_custom_attributes_group_by_their_text() -> None:
    # 1 and "1" are the same text; None and "" are no value; ties by name ("(" before "1").
    assert _groups("attributes.tier") == [(NONE, 3), ("1", 3), ("gold", 3), ("2.5", 1)]


def test_every_lead_gets_one_group_code_and_each_name_is_one_group() -> None:
    history = _history()
    facts = RowFacts(history.leads.values(), [])
    codes, names = dimension("country", len(history.leads), facts)
    assert sorted(names) == sorted({"DE", "AT", "FR", NONE}) and len(names) == len(set(names))
    assert [names[code] for code in codes.tolist()] == [c or NONE for c in COUNTRIES]
    assert codes.dtype == np.int64
