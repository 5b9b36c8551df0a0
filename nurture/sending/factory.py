"""Assembling a sender from a workspace's settings."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from nurture.definitions import Program
from nurture.delivery.transports import Transport, parse_transport
from nurture.guards import SendGuard
from nurture.sending.compose import Composer
from nurture.sending.outbox import Outbox
from nurture.settings import secret_key
from nurture.tokens import TokenSigner
from nurture.workspace import Workspace


def signer_for(workspace: Workspace) -> TokenSigner:
    return TokenSigner(secret_key(workspace.settings, workspace.root))


def build_outbox(
    db: Engine, program: Program, workspace: Workspace, transport: Transport | None = None
) -> Outbox:
    """An outbox sender on the configured transport (the caller closes ``outbox.transport``)."""
    settings = workspace.settings
    composer = Composer(program, settings, signer_for(workspace))
    chosen = transport or parse_transport(settings.transport, workspace.root, settings)
    outbox = Outbox(db, composer, chosen, concurrency=max(settings.smtp_pool_size * 2, 4))
    outbox.guard = SendGuard.from_settings(settings)
    return outbox
