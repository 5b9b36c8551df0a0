"""The server's Prometheus metrics, in a registry of its own (never the process-wide default one),
so two apps in one process (tests, the daemon) never share or clash over counters."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from nurture.engagement import ENGAGEMENT_TYPES

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Tracking answers in a millisecond or two; the upper buckets catch a database that stalls.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


def origin(machine_reason: str | None) -> str:
    return "human" if machine_reason is None else "machine"


class Metrics:
    """Counters for engagement and for the HTTP server itself."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events = Counter(
            "nurture_events_recorded",
            "Engagement events stored, by type and by whether a person or a machine caused them.",
            ["type", "origin"],
            registry=r,
        )
        self.opens = Counter("nurture_email_opens", "Open-pixel loads recorded.", ["origin"], registry=r)
        self.clicks = Counter("nurture_email_clicks", "Tracked-link clicks recorded.", ["origin"], registry=r)
        self.unsubscribes = Counter(
            "nurture_unsubscribes",
            "Unsubscribes through the server (one_click: RFC 8058 POST; page: the form; api: ingest).",
            ["channel"],
            registry=r,
        )
        self.refused_tokens = Counter(
            "nurture_refused_tokens",
            "Links whose token was changed, forged or malformed.",
            ["route"],
            registry=r,
        )
        self.recording_errors = Counter(
            "nurture_recording_errors",
            "Opens or clicks that could not be stored (the reader was answered all the same).",
            ["route"],
            registry=r,
        )
        self.requests = Counter(
            "nurture_http_requests", "HTTP requests answered.", ["route", "method", "status"], registry=r
        )
        self.latency = Histogram(
            "nurture_http_request_duration_seconds",
            "Time to answer an HTTP request.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

    def count_event(self, event_type: str, machine_reason: str | None) -> None:
        self.count_events({(event_type, origin(machine_reason)): 1})

    def count_events(self, counts: Mapping[tuple[str, str], int]) -> None:
        """Count stored events given as {(type, "human" | "machine"): number}."""
        for (event_type, who), number in counts.items():
            # Custom event names are the marketer's to invent: one label for all keeps series few.
            label = event_type if event_type in ENGAGEMENT_TYPES else "custom"
            self.events.labels(label, who).inc(number)

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)
