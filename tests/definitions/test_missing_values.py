"""A custom attribute or event property that is not there reads as undefined, never as a failure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nurture.definitions import EvaluationContext, compile_condition
from nurture.definitions.problems import ConditionError

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def holds(source: str, lead: dict[str, object] | None = None, event: dict[str, object] | None = None) -> bool:
    return compile_condition(source).evaluate(EvaluationContext(lead=lead or {}, now=NOW, event=event))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("lead.attributes.plan == 'pro'", False),
        ("lead.attributes.plan != 'pro'", True),
        ("lead.attributes.plan in ['pro', 'team']", False),
        ("lead.attributes.plan is none", True),
        ("lead.attributes.plan is not defined", True),
        ("not lead.attributes.plan", True),
        ("(lead.attributes.seats or 0) >= 10", False),
        ("lead.attributes.seats >= 10", False),
        ("lead.attributes.seats < 10", False),
        ("lead.attributes['plan'] == 'pro'", False),
        ("lead.attributes.plan | default('free') == 'free'", True),
        ("'pro' in lead.attributes.plan", False),
    ],
)
def test_a_missing_custom_attribute_reads_as_undefined(source: str, expected: bool) -> None:
    assert holds(source, {"attributes": {"industry_code": "x"}}) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("'/pricing' in event.url", False),
        ("event.asset_type == 'whitepaper'", False),
        ("event.url is not defined", True),
        ("'/pricing' not in event.url", True),
    ],
)
def test_a_missing_event_property_reads_as_undefined(source: str, expected: bool) -> None:
    assert holds(source, event={"type": "page_view"}) is expected


def test_present_values_still_decide() -> None:
    assert holds("'/pricing' in event.url", event={"url": "https://x.example/pricing"})
    assert holds("lead.attributes.plan == 'pro'", {"attributes": {"plan": "pro"}})


def test_wrong_data_still_fails_with_its_reason() -> None:
    with pytest.raises(ConditionError):
        holds("'/pricing' in lead.company", {"company": None})
