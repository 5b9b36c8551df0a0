"""A scoring rule that cannot be decided gives no points, is logged once, and is counted per rule."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from nurture.definitions import compile_condition
from nurture.errors import Location
from nurture.scoring.rules import holds, take_scoring_failures

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_a_failing_rule_is_logged_once_and_counted_per_lead(caplog: pytest.LogCaptureFixture) -> None:
    take_scoring_failures()  # whatever earlier tests left
    rule = compile_condition("days_since(lead.attributes.signup) > 3", Location("campaigns/s.yaml", 6, 12))
    with caplog.at_level(logging.WARNING, logger="nurture.scoring.rules"):
        for i in range(3):
            lead = {"email": f"l{i}@firma.de", "attributes": {"signup": "gestern"}}
            assert holds(rule, lead, NOW) is False
    assert len([r for r in caplog.records if "scoring condition skipped" in r.getMessage()]) == 1
    [line] = take_scoring_failures().lines()
    assert line.startswith(
        "campaigns/s.yaml:6:12: condition 'days_since(lead.attributes.signup) > 3' failed for 3"
    )
    assert "(first: l0@firma.de:" in line
    assert take_scoring_failures().lines() == []


def test_a_fit_rule_on_a_missing_attribute_simply_does_not_apply() -> None:
    take_scoring_failures()
    rule = compile_condition("lead.attributes.plan == 'enterprise'")
    assert holds(rule, {"email": "a@b.de", "attributes": {}}, NOW) is False
    assert holds(rule, {"email": "a@b.de", "attributes": {"plan": "enterprise"}}, NOW) is True
    assert take_scoring_failures().lines() == []


def test_a_page_view_without_a_url_is_simply_not_a_pricing_visit() -> None:
    from nurture.definitions.event_view import event_view
    from nurture.scoring.events import StoredEvent

    take_scoring_failures()
    rule = compile_condition("'/pricing' in event.url")
    lead = {"email": "a@b.de", "attributes": {}}

    def page_view(url: str | None) -> dict[str, object]:
        return event_view(StoredEvent(1, 1, "page_view", NOW, {}, url, None, None, None))

    assert holds(rule, lead, NOW, page_view(None)) is False
    assert holds(rule, lead, NOW, page_view("https://x.example/pricing")) is True
    assert holds(compile_condition("event.url is none"), lead, NOW, page_view(None)) is True
    assert take_scoring_failures().lines() == []
