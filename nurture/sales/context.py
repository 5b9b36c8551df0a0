"""What handing leads to sales needs beyond the program: settings, the link signer, the templates.

The process that owns them (a CLI command, the daemon, the HTTP app) builds one
:class:`SalesSetup` when it starts and hands it down; nothing in a scoring or routing pass reads
settings or keys from disk. A :class:`SalesContext` joins that setup to one program version, with
the workspace's templates as that version has them: a daemon that reloads its program (after an
edit under ``templates/`` too) makes a new one.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo

from nurture.definitions import SLA, Program, SalesTeam
from nurture.i18n import DEFAULT_TEMPLATES, Reader, own_environment
from nurture.sales.rep_tokens import rep_token_key
from nurture.settings import Settings, secret_key
from nurture.templating import Sandbox
from nurture.tokens import TokenSigner
from nurture.zones import zone

__all__ = ["DEFAULT_TEMPLATES", "SalesContext", "SalesSetup", "webhook_key_of"]


@dataclass(frozen=True)
class SalesSetup:
    """A workspace's settings with the signer, keys and templates its sales handoffs use."""

    settings: Settings
    signer: TokenSigner
    webhook_key: bytes
    rep_token_key: bytes
    default_templates: Sandbox

    @classmethod
    def of(cls, settings: Settings, root: Path) -> SalesSetup:
        """Read the workspace's secret key: once, when a process starts."""
        key = secret_key(settings, root)
        return cls(
            settings=settings,
            signer=TokenSigner(key),
            webhook_key=webhook_key_of(key),
            rep_token_key=rep_token_key(key),
            # nurture's own templates only: the fallback when a workspace's override fails.
            default_templates=own_environment(DEFAULT_TEMPLATES),
        )

    @cached_property
    def message_domain(self) -> str:
        """The domain of Message-IDs, taken from the sender address."""
        domain = self.settings.from_address.rpartition("@")[2].strip(" >")
        return domain or "nurture.invalid"

    @cached_property
    def default_zone(self) -> ZoneInfo:
        return zone(self.settings.timezone)


def webhook_key_of(secret: bytes) -> bytes:
    """The key webhook signatures are made with, derived from the workspace secret."""
    return hmac.digest(secret, b"nurture webhooks v1", "sha256")


@dataclass(frozen=True)
class SalesContext:
    """A program with the settings, signer and templates its sales handoffs use."""

    program: Program
    setup: SalesSetup

    @property
    def settings(self) -> Settings:
        return self.setup.settings

    @property
    def signer(self) -> TokenSigner:
        return self.setup.signer

    @cached_property
    def templates(self) -> Sandbox:
        """The workspace's ``templates/`` first, so ``templates/sales/*`` overrides the defaults."""
        return own_environment(self.program.templates_dir, DEFAULT_TEMPLATES)

    @property
    def default_templates(self) -> Sandbox:
        return self.setup.default_templates

    @property
    def message_domain(self) -> str:
        return self.setup.message_domain

    @property
    def base_url(self) -> str:
        return self.settings.base_url.rstrip("/")

    @property
    def default_zone(self) -> ZoneInfo:
        return self.setup.default_zone

    def reader(self, locale: str | None, timezone: str | None) -> Reader:
        """Who a sales email is for: their locale, else the workspace's; their zone, else its."""
        tz = zone(timezone) if timezone else self.default_zone
        return Reader.of((locale,), default=self.settings.locale, zone=tz)

    @cached_property
    def sla(self) -> SLA | None:
        """The program's SLA, or None when it has none (then nothing becomes an MQL)."""
        return next(
            (i.definition for i in self.program.of_kind("SLA") if isinstance(i.definition, SLA)), None
        )

    @cached_property
    def team(self) -> SalesTeam | None:
        """The team the SLA routes to by default (the last of its ``route_to`` rules)."""
        key = self.sla.default_team if self.sla is not None else None
        return self.program.sales_teams.get(key) if key is not None else None

    def team_named(self, key: str | None) -> SalesTeam | None:
        """The team with this key, None when the program has none by that key."""
        return self.program.sales_teams.get(key) if key is not None else None
