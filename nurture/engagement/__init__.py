"""Engagement: recording what leads do (opens, clicks, downloads, ...), opting out, honest signals.

* :func:`record_events` checks and stores events from the API and from files;
  :func:`join_anonymous_events` gives events kept under an address to the lead created with it.
* :func:`record_sightings` (and :func:`record_open` / :func:`record_click` for one) store what
  the tracking links see.
* :func:`unsubscribe` and :func:`suppress` stop all mail to an address at once.
* :mod:`nurture.engagement.signals` flags opens and clicks made by proxies and scanners;
  :func:`engagement_counts` counts people and machines apart.
"""

from nurture.engagement.batches import BatchAnswer, BatchKeyReused, record_batch
from nurture.engagement.counts import EngagementCount, engagement_counts, lead_engagement
from nurture.engagement.items import ENGAGEMENT_TYPES, EventItem, ItemInvalid, is_event_type, parse_item
from nurture.engagement.record import (
    ItemError,
    RecordResult,
    UnknownLeads,
    join_anonymous_events,
    record_events,
)
from nurture.engagement.signals import click_machine_reason, open_machine_reason
from nurture.engagement.store import NewEvent, store_events
from nurture.engagement.suppress import OptOut, suppress, unsubscribe
from nurture.engagement.tracked import Sighting, Tracked, record_click, record_open, record_sightings

__all__ = [
    "ENGAGEMENT_TYPES",
    "BatchAnswer",
    "BatchKeyReused",
    "EngagementCount",
    "EventItem",
    "ItemError",
    "ItemInvalid",
    "NewEvent",
    "OptOut",
    "RecordResult",
    "Sighting",
    "Tracked",
    "UnknownLeads",
    "click_machine_reason",
    "engagement_counts",
    "is_event_type",
    "join_anonymous_events",
    "lead_engagement",
    "open_machine_reason",
    "parse_item",
    "record_batch",
    "record_click",
    "record_events",
    "record_open",
    "record_sightings",
    "store_events",
    "suppress",
    "unsubscribe",
]
