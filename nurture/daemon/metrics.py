"""The daemon's Prometheus metrics, registered in the HTTP server's registry so ``/metrics``
shows the server's and the daemon's figures together.

Counters count what *this replica* did (sum them across replicas). The gauges read from the
database by the ``stats`` job (``nurture_mqls``, ``nurture_outbox_due``) are the whole cluster's
figure, the same on every replica (take ``max``, not ``sum``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from nurture.delivery.throttle import Throttle

# Jobs take from a few milliseconds (nothing due) to minutes (a large backlog).
JOB_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class DaemonMetrics:
    """Counters and gauges for jobs, sends, SLA breaches, webhooks, bounces and reloads."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.job_runs = Counter(
            "nurture_job_runs",
            "Job runs by outcome: ok, failed, skipped (another replica held the job's lock, or the job "
            "is backing off after an error), missed (started too late), overlapping (still running).",
            ["job", "outcome"],
            registry=r,
        )
        self.job_seconds = Histogram(
            "nurture_job_duration_seconds",
            "How long a job run took.",
            ["job"],
            buckets=JOB_BUCKETS,
            registry=r,
        )
        self.job_last_success = Gauge(
            "nurture_job_last_success_timestamp_seconds",
            "Unix time of the job's last successful run (alert when it falls behind).",
            ["job"],
            registry=r,
        )
        self.entered = Counter(
            "nurture_enrollments_entered", "Leads that entered a campaign.", ["campaign"], registry=r
        )
        self.queued = Counter(
            "nurture_emails_queued", "Marketing emails queued by campaign steps.", ["campaign"], registry=r
        )
        self.steps = Counter("nurture_steps_run", "Campaign steps run.", registry=r)
        self.verdicts = Counter(
            "nurture_outbox_verdicts",
            "Outbox messages handled, by verdict (sent, retry, failed, bounced, suppressed).",
            ["status"],
            registry=r,
        )
        self.unknown = Counter(
            "nurture_outbox_unknown",
            "Messages found in flight after a sender stopped: marked unknown, never resent.",
            registry=r,
        )
        self.sla_breaches = Counter(
            "nurture_sla_breaches",
            "Handoffs not accepted in time, by what followed.",
            ["outcome"],
            registry=r,
        )
        self.webhooks = Counter(
            "nurture_webhook_deliveries", "Webhook delivery attempts by outcome.", ["outcome"], registry=r
        )
        self.bounces = Counter(
            "nurture_bounce_inbox_messages",
            "Messages read from the bounce mailbox, by kind.",
            ["kind"],
            registry=r,
        )
        self.reloads = Counter(
            "nurture_definition_reloads",
            "Definition reloads by outcome (applied, refused).",
            ["outcome"],
            registry=r,
        )
        self.definitions_stale = Gauge(
            "nurture_definitions_stale",
            "1 while the files on disk differ from the running program (an edit was refused).",
            registry=r,
        )
        self.mqls = Gauge(
            "nurture_mqls",
            "Leads ever moved to MQL, each counted once however often it qualified (cluster figure).",
            registry=r,
        )
        self.sending_paused = Gauge(
            "nurture_sending_paused",
            '1 for each campaign whose sending is paused (campaign="*": all marketing mail), by why: '
            "manual, hard_bounce_rate or complaint_rate; read from the database (cluster figure).",
            ["campaign", "reason"],
            registry=r,
        )
        self.breaker_trips = Counter(
            "nurture_breaker_trips",
            "Circuit breakers this replica tripped (a pause recorded with its figures).",
            ["campaign", "reason"],
            registry=r,
        )
        self.definitions_held = Gauge(
            "nurture_definitions_held",
            "Campaign changes held back until `nurture plan --apply` (over the plan limits).",
            registry=r,
        )
        self.outbox_due = Gauge(
            "nurture_outbox_due",
            "Messages queued and due now, read from the database (cluster figure).",
            registry=r,
        )


class ThrottleCollector(Collector):
    """The mail-host throttle of this replica, read at each scrape (per replica: sum the
    in-flight and deferred figures across replicas; each replica has its own limits), and the
    warm-up's allowance and use today."""

    def __init__(
        self, throttle: Callable[[], Throttle | None], warmup: Callable[[], tuple[int, int] | None]
    ) -> None:
        self.throttle = throttle
        self.warmup = warmup  # (today's allowance, used) while a warm-up runs

    def collect(self) -> Iterator[Metric]:
        rate = GaugeMetricFamily(
            "nurture_mail_host_rate_limit",
            "Emails/s this replica sends to a recipient host group now (lower than its limit while "
            "it recovers from a deferral).",
            labels=["group"],
        )
        connections = GaugeMetricFamily(
            "nurture_mail_host_connection_limit",
            "Emails to a host group this replica may have on the wire at once now.",
            labels=["group"],
        )
        in_flight = GaugeMetricFamily(
            "nurture_mail_host_in_flight", "Emails to a host group on the wire now.", labels=["group"]
        )
        deferred = GaugeMetricFamily(
            "nurture_mail_host_deferred",
            "Emails put back in the queue since the start because their host group was at its limit.",
            labels=["group"],
        )
        refusals = GaugeMetricFamily(
            "nurture_mail_host_refusals",
            "Temporary refusals (4xx) from a host group since the start; each may slow the group.",
            labels=["group"],
        )
        throttle = self.throttle()
        for state in throttle.states() if throttle is not None else []:
            rate.add_metric([state.group], state.rate)
            connections.add_metric([state.group], state.connections)
            in_flight.add_metric([state.group], state.in_flight)
            deferred.add_metric([state.group], state.deferred)
            refusals.add_metric([state.group], state.refusals)
        yield from (rate, connections, in_flight, deferred, refusals)
        today = self.warmup()
        if today is not None:
            allowance, used = today
            yield GaugeMetricFamily(
                "nurture_warmup_allowance",
                "Marketing emails the sending domain's warm-up allows today (cluster figure).",
                value=allowance,
            )
            yield GaugeMetricFamily(
                "nurture_warmup_used",
                "Marketing emails handed over today or in a sender's hand, at this replica's last claim "
                "(cluster figure); the rest of today's marketing mail waits in the queue.",
                value=used,
            )
