"""Assembling a sender from a workspace's settings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from nurture.definitions import Program
from nurture.delivery.mail_hosts import MailHosts, dns_mx_lookup
from nurture.delivery.throttle import DEFAULT_LIMITS, HostLimit, Throttle
from nurture.delivery.transports import SmtpTransport, Transport, parse_transport
from nurture.guards import SendGuard
from nurture.guards.consent import ConsentScreen, consent_settings
from nurture.sending.compose import Composer
from nurture.sending.outbox import Outbox
from nurture.sending.warmup import Warmup
from nurture.settings import Settings, secret_key
from nurture.tokens import TokenSigner
from nurture.workspace import Workspace
from nurture.zones import zone

# A Maildir is written by a few threads: this many emails at once keep them busy.
MAILDIR_CONCURRENCY = 8
BATCH_PER_CONNECTION = 10
BATCH_SECONDS = 2


def signer_for(workspace: Workspace) -> TokenSigner:
    return TokenSigner(secret_key(workspace.settings, workspace.root))


def build_outbox(
    db: Engine,
    program: Program,
    workspace: Workspace,
    transport: Transport | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
    throttle: Throttle | None = None,
    mail_hosts: MailHosts | None = None,
) -> Outbox:
    """An outbox sender on the configured transport (the caller closes ``outbox.transport``);
    leases are taken from ``clock`` (the system clock when not given)."""
    settings = workspace.settings
    composer = Composer(program, settings, signer_for(workspace))
    chosen = transport or parse_transport(settings.transport, workspace.root, settings)
    # One message per SMTP connection: a message marked `sending` is on the wire, not waiting
    # for a connection, so a crash leaves no more `unknown` than there are connections.
    concurrency = chosen.settings.pool_size if isinstance(chosen, SmtpTransport) else MAILDIR_CONCURRENCY
    batch_size = max(200, concurrency * BATCH_PER_CONNECTION)
    rate = chosen.settings.rate_per_second if isinstance(chosen, SmtpTransport) else 0.0
    if rate > 0:
        # A pause or a breaker is obeyed at the next claim: under a rate limit a batch holds at
        # most BATCH_SECONDS of sending, so a pause stops the mail within seconds, not minutes
        # (the rate caps throughput anyway, so smaller batches cost nothing).
        batch_size = max(1, min(batch_size, int(rate * BATCH_SECONDS)))
    lease = settings.outbox_lease
    outbox = Outbox(
        db,
        composer,
        chosen,
        concurrency=concurrency,
        # Each connection carries several emails of a batch, so the few slow replies at its end
        # (the batch's stragglers) keep few connections waiting for the next one.
        batch_size=batch_size,
        clock=clock,
        lease=timedelta(seconds=lease),
        heartbeat=lease / 4,
    )
    if isinstance(chosen, SmtpTransport):
        # A Maildir has no receiving mail hosts to spare: only mail over SMTP is throttled by them.
        outbox.throttle = throttle or throttle_from(settings)
        outbox.mail_hosts = mail_hosts or mail_hosts_from(settings)
    if settings.warmup_start is not None:
        schedule = tuple(settings.warmup_schedule)
        outbox.warmup = Warmup(settings.warmup_start, schedule, zone(settings.timezone))
    outbox.guard = SendGuard.from_settings(settings)
    topics = {key: c.topic for key, c in program.campaigns.items()}
    outbox.consent = ConsentScreen(topics, consent_settings(settings, program))
    return outbox


def throttle_from(settings: Settings) -> Throttle:
    """The per-host-group throttle: the built-in limits, with ``mail_host_limits`` over them."""
    limits = dict(DEFAULT_LIMITS)
    for group, limit in settings.mail_host_limits.items():
        limits[group.lower()] = HostLimit(limit.rate, limit.connections)
    return Throttle(limits)


def mail_hosts_from(settings: Settings) -> MailHosts:
    """Recipient domain -> host group, asking DNS for MX records unless ``mail_host_mx_lookup`` is off."""
    return MailHosts(dns_mx_lookup() if settings.mail_host_mx_lookup else None)
