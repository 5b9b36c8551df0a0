"""The quick path for plain conditions decides exactly as the sandbox does, or leaves it to it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nurture.definitions import ConditionError, EvaluationContext, compile_condition, lead_view
from nurture.definitions.quick import quick

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
PLAIN = [
    "lead.score >= 100",
    "50 <= (lead.company_size or 0) <= 1000",
    "lead.country in ['DE', 'AT', 'CH']",
    "lead.country not in ('DE',)",
    "lead.email_domain in free_mail_domains",
    "lead.job_title is matching('(?i)head|vp|leiter')",
    "lead.company_size is none",
    "not (lead.country == 'DE') and lead.score > 3",
    "lead.attributes.plan == 'pro' or lead['lifecycle_stage'] != 'customer'",
    "event.asset_type == 'whitepaper'",
    "'/pricing' in event.url or '/preise' in event.url",
]
NOT_PLAIN = [
    "days_since(lead.created_at) > 3",
    "(lead.first_name | length) > 3",
    "lead.score + 5 > 10",
    "opened('welcome')",
    "lead.attributes.items() | list",
    "lead.score > now.day",
]

values = st.one_of(
    st.none(),
    st.integers(-5, 2000),
    st.floats(-10, 200, allow_nan=False),
    st.sampled_from(
        ["DE", "AT", "US", "gmail.com", "firm.de", "Head of IT", "engineer", "customer", "lead", "pro", ""]
    ),
)
leads = st.fixed_dictionaries(
    {
        "score": values,
        "company_size": values,
        "country": values,
        "email_domain": values,
        "job_title": values,
        "lifecycle_stage": values,
        "attributes": st.dictionaries(st.sampled_from(["plan", "seats"]), values, max_size=2),
    }
)
events = st.one_of(
    st.none(),
    st.dictionaries(
        st.sampled_from(["asset_type", "url", "type"]), values | st.just("/pricing/x"), max_size=3
    ),
)


def sandbox(source: str, lead: dict[str, Any], event: dict[str, Any] | None) -> bool | str:
    try:
        return compile_condition(source).evaluate(EvaluationContext(lead=lead, now=NOW, event=event))
    except ConditionError:
        return "undecided"


@pytest.mark.parametrize("source", PLAIN)
@settings(max_examples=60, deadline=None)
@given(lead=leads, event=events)
def test_the_quick_path_agrees_with_the_sandbox(
    source: str, lead: dict[str, Any], event: dict[str, Any] | None
) -> None:
    direct = quick(compile_condition(source))
    assert direct is not None
    try:
        outcome = bool(direct(dict(lead_view(lead)), event))
    except Exception:
        return  # left to the sandbox
    assert sandbox(source, lead, event) == outcome


@pytest.mark.parametrize("source", NOT_PLAIN)
def test_anything_beyond_plain_comparisons_goes_to_the_sandbox(source: str) -> None:
    assert quick(compile_condition(source)) is None
