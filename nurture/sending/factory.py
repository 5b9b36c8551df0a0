"""Assembling a sender from a workspace's settings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from nurture.definitions import Program
from nurture.delivery.transports import SmtpTransport, Transport, parse_transport
from nurture.guards import SendGuard
from nurture.guards.consent import ConsentScreen, consent_settings
from nurture.sending.compose import Composer
from nurture.sending.outbox import Outbox
from nurture.settings import secret_key
from nurture.tokens import TokenSigner
from nurture.workspace import Workspace


def signer_for(workspace: Workspace) -> TokenSigner:
    return TokenSigner(secret_key(workspace.settings, workspace.root))


def build_outbox(
    db: Engine,
    program: Program,
    workspace: Workspace,
    transport: Transport | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
) -> Outbox:
    """An outbox sender on the configured transport (the caller closes ``outbox.transport``);
    leases are taken from ``clock`` (the system clock when not given)."""
    settings = workspace.settings
    composer = Composer(program, settings, signer_for(workspace))
    chosen = transport or parse_transport(settings.transport, workspace.root, settings)
    # One message per SMTP connection: a message marked `sending` is on the wire, not waiting
    # for a connection, so a crash leaves no more `unknown` than there are connections.
    if isinstance(chosen, SmtpTransport):
        concurrency = chosen.settings.pool_size
    else:
        concurrency = max(settings.smtp_pool_size * 2, 4)
    lease = settings.outbox_lease
    outbox = Outbox(
        db,
        composer,
        chosen,
        concurrency=concurrency,
        clock=clock,
        lease=timedelta(seconds=lease),
        heartbeat=lease / 4,
    )
    outbox.guard = SendGuard.from_settings(settings)
    topics = {key: c.topic for key, c in program.campaigns.items()}
    outbox.consent = ConsentScreen(topics, consent_settings(settings, program))
    return outbox
