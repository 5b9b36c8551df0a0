"""Which `where` conditions follow from the event's fields alone (decided once per distinct event)."""

from __future__ import annotations

import pytest

from nurture.definitions import Condition
from nurture.scoring.rules import reads_event_only


@pytest.mark.parametrize(
    ("source", "event_only"),
    [
        ("'/pricing' in (event.url or '')", True),
        ("event.asset_type == 'whitepaper' and not event.machine", True),
        ("event['form'] in ['demo', 'trial']", True),
        ("event.url is matching('(?i)/pricing')", True),
        ("event.occurred_at > '2025-01-01'", False),  # the time differs for every event
        ("event.url and lead.country == 'DE'", False),
        ("days_since(event.occurred_at) < 7", False),
        ("event | length > 2", False),  # the event as a whole
        ("event[event.field] == 1", False),
        ("now.hour < 12 and event.url", False),
    ],
)
def test_a_condition_is_decided_by_event_fields_only_when_it_reads_nothing_else(
    source: str, event_only: bool
) -> None:
    assert reads_event_only(Condition(source)) is event_only
