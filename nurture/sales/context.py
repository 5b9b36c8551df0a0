"""What handing leads to sales needs beyond the program: settings, the link signer, the templates.

Scoring and routing run inside the importers' and the engine's transactions, which pass only the
program; the rest is read from the program's workspace once and kept for that program.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2.sandbox import ImmutableSandboxedEnvironment

from nurture.definitions import SLA, Program, SalesTeam
from nurture.settings import Settings, load_settings, secret_key
from nurture.templating import template_environment
from nurture.tokens import TokenSigner
from nurture.zones import zone

DEFAULT_TEMPLATES = Path(__file__).resolve().parent.parent / "default_templates"
_KEPT = 16  # programs remembered; a process normally has one


@dataclass(frozen=True)
class SalesContext:
    """A program with the settings, signer and templates its sales handoffs use."""

    program: Program
    settings: Settings

    @cached_property
    def signer(self) -> TokenSigner:
        return TokenSigner(secret_key(self.settings, self.program.root))

    @cached_property
    def templates(self) -> ImmutableSandboxedEnvironment:
        """The workspace's ``templates/`` first, so ``templates/sales/*`` overrides the defaults."""
        return template_environment(self.program.templates_dir, DEFAULT_TEMPLATES)

    @cached_property
    def default_templates(self) -> ImmutableSandboxedEnvironment:
        """nurture's own templates only: the fallback when a workspace's override fails."""
        return template_environment(DEFAULT_TEMPLATES)

    @cached_property
    def message_domain(self) -> str:
        """The domain of Message-IDs, taken from the sender address."""
        domain = self.settings.from_address.rpartition("@")[2].strip(" >")
        return domain or "nurture.invalid"

    @property
    def base_url(self) -> str:
        return self.settings.base_url.rstrip("/")

    @cached_property
    def default_zone(self) -> ZoneInfo:
        return zone(self.settings.timezone)

    @cached_property
    def sla(self) -> SLA | None:
        """The program's SLA, or None when it has none (then nothing becomes an MQL)."""
        return next(
            (i.definition for i in self.program.of_kind("SLA") if isinstance(i.definition, SLA)), None
        )

    @cached_property
    def team(self) -> SalesTeam | None:
        """The team the SLA routes to."""
        return self.program.team(self.sla.route_to) if self.sla is not None else None


_contexts: list[SalesContext] = []
_lock = threading.Lock()


def sales_context(program: Program, settings: Settings | None = None) -> SalesContext:
    """The context of ``program``; settings are read from its workspace unless given."""
    with _lock:
        for context in _contexts:
            if context.program is program and (settings is None or context.settings is settings):
                return context
        context = SalesContext(program, settings if settings is not None else load_settings(program.root))
        _contexts.insert(0, context)
        del _contexts[_KEPT:]
        return context
