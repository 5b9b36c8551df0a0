"""Settings: ``nurture.toml`` in the workspace, overridden by ``NURTURE_<KEY>`` variables."""

from __future__ import annotations

import difflib
import ipaddress
import secrets
import tomllib
from datetime import date
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from nurture.branding import DEFAULT_PRIMARY, DEFAULT_TEXT, Branding, checked_color, checked_logo_url
from nurture.durations import parse_duration
from nurture.errors import SettingsError
from nurture.i18n.locale_choice import language_tag, parse_locale
from nurture.zones import zone

SETTINGS_FILE = "nurture.toml"
SECRET_FILE = ".nurture/secret_key"  # noqa: S105 - a path, not a secret


class MailHostLimit(BaseModel):
    """A recipient host group's limit: ``rate`` emails/s and ``connections`` emails at once."""

    model_config = ConfigDict(extra="forbid")

    rate: float = Field(gt=0)
    connections: int = Field(ge=1)


class Settings(BaseSettings):
    """Every key may be set in ``nurture.toml`` or as ``NURTURE_<KEY>`` (the variable wins)."""

    model_config = SettingsConfigDict(env_prefix="NURTURE_", extra="forbid", case_sensitive=False)

    database_url: str = "sqlite:///nurture.db"
    transport: str = "maildir:outbox"
    from_address: str = "Nurture Demo <marketing@example.com>"
    reply_to: str | None = None
    base_url: str = "http://127.0.0.1:8025"
    secret_key: SecretStr | None = None
    timezone: str = "UTC"
    locale: str = Field(
        default="en", description="language of nurture's own pages and emails when the reader's is unknown"
    )
    # Branding of the pages nurture serves and of its own emails (nurture.branding).
    brand_name: str | None = Field(default=None, max_length=100, description="the workspace's display name")
    brand_logo_url: str | None = Field(default=None, description="https URL of the logo image")
    brand_primary_color: str = Field(default=DEFAULT_PRIMARY, description="buttons and accents (hex)")
    brand_text_color: str = Field(default=DEFAULT_TEXT, description="body text (hex)")
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8025, ge=1, le=65535)
    ingest_api_key: SecretStr | None = None
    sales_api_key: SecretStr | None = Field(
        default=None, description="bearer key of the sales API (/api/sales/*) for CRMs, with an actor"
    )
    frequency_cap: int = Field(default=3, ge=0, description="marketing emails per lead per window; 0 = off")
    frequency_window: str = "7d"
    unknown_event_leads: Literal["keep", "refuse"] = "keep"
    bounce_mailbox: str | None = Field(
        default=None, description="maildir:PATH or imaps://USER:PASS@HOST/MAILBOX; unset = not read"
    )
    soft_bounce_limit: int = Field(
        default=3, ge=0, description="emails bounced softly, with no open between, that suppress; 0 = off"
    )
    dkim_selector: str | None = None
    dkim_private_key_file: str | None = None
    smtp_rate_per_second: float = Field(default=0, ge=0, description="0 = unlimited")
    smtp_pool_size: int = Field(
        default=64, ge=1, le=500, description="connections to the relay (emails/s = connections / (2 x RTT))"
    )
    # Guards against a bad send (docs/guards.md).
    breaker_hard_bounce_rate: float = Field(
        default=0.02, ge=0, le=1, description="hard bounces per email handed over that pause; 0 = off"
    )
    breaker_complaint_rate: float = Field(
        default=0.001, ge=0, le=1, description="complaints per email handed over that pause; 0 = off"
    )
    breaker_min_sends: int = Field(
        default=200, ge=1, description="emails handed over in the window before a breaker may trip"
    )
    breaker_window: str = Field(default="1h", description="the sliding window the rates are taken over")
    alert_address: str | None = Field(default=None, description="who is emailed when a breaker trips")
    plan_enrol_limit: int = Field(
        default=1000, ge=0, description="an edit enrolling more leads than this is held; 0 = off"
    )
    plan_send_limit: int = Field(
        default=5000, ge=0, description="an edit adding more emails in 24 h than this is held; 0 = off"
    )
    require_consent: bool | list[str] = Field(
        default=False, description="true: every topic needs confirmed consent; or a list of topics"
    )
    relay_signs_dkim: bool = Field(
        default=False, description="the relay adds a DKIM signature (covering List-Unsubscribe) itself"
    )
    metrics_bind: str = Field(
        default="127.0.0.1:9464", description="HOST:PORT of the admin listener serving /metrics; '' = none"
    )
    metrics_token: SecretStr | None = Field(
        default=None, description="also serve /metrics on the public listener to this bearer token"
    )
    render_max_chars: int = Field(
        default=1_000_000, ge=10_000, description="characters per rendered part of an email; larger fails it"
    )
    render_time_limit: float = Field(
        default=1.0, gt=0, le=60, description="CPU seconds one email may take to render; more fails it"
    )
    outbox_lease: float = Field(
        default=60, ge=1, description="seconds a sender's claim lasts unless extended (a dead sender's wait)"
    )
    mail_host_limits: dict[str, MailHostLimit] = Field(
        default_factory=dict,
        description="per recipient host group (google, microsoft, ..., default): rate, connections",
    )
    mail_host_mx_lookup: bool = Field(
        default=True, description="group recipient domains by their MX hosts (false: by domain, no DNS)"
    )
    warmup_start: date | None = Field(
        default=None, description="the new sending domain's first day (YYYY-MM-DD); unset = no warm-up"
    )
    warmup_schedule: list[int] = Field(
        default_factory=lambda: [50 * 2 ** (day // 2) for day in range(24)],
        description="marketing emails per day from warmup_start on; no limit after the last",
        min_length=1,
    )
    smtp_data_timeout: float = Field(
        default=600, gt=0, description="seconds to wait for the relay's answer to the final dot of DATA"
    )
    # Web forms (README: Web forms).
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="sites whose pages may post to /forms/KEY and receive its redirects, e.g. https://www.example.com",
    )
    form_rate_limit: int = Field(
        default=10, ge=0, description="form posts per minute from one IP address, per server process; 0 = off"
    )
    opt_in_expiry: str = Field(default="7d", description="how long a double opt-in link stays valid")
    opt_in_emails_per_address: int = Field(
        default=3, ge=1, description="confirmation emails to one address per 24 hours"
    )
    opt_in_emails_per_ip: int = Field(
        default=20, ge=1, description="confirmation emails asked for from one IP address per 24 hours"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init arguments; the environment must win over them.
        return (env_settings, init_settings)

    @field_validator("breaker_window", "opt_in_expiry")
    @classmethod
    def _window(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        found: list[str] = []
        for url in value:
            parts = urlsplit(url.strip())
            if (
                parts.scheme not in ("http", "https")
                or not parts.hostname
                or parts.path not in ("", "/")
                or origin_of(url) is None
            ):
                raise ValueError(
                    f"{url!r} is not an origin; write scheme and host, e.g. https://www.example.com"
                )
            found.append(origin_of(url) or url)
        return found

    def consent_required(self, topic: str) -> bool:
        """Whether marketing mail on ``topic`` needs confirmed consent."""
        if isinstance(self.require_consent, bool):
            return self.require_consent
        return topic in self.require_consent

    @field_validator("metrics_bind")
    @classmethod
    def _host_and_port(cls, value: str) -> str:
        if value.strip():
            admin_address(value)
        return value.strip()

    @field_validator("brand_logo_url")
    @classmethod
    def _logo(cls, value: str | None) -> str | None:
        return checked_logo_url(value) if value else None

    @field_validator("brand_primary_color", "brand_text_color")
    @classmethod
    def _color(cls, value: str) -> str:
        return checked_color(value)

    @field_validator("brand_name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        # One line: the name also goes into page titles and email footers.
        shown = " ".join(value.split()) if value else ""
        return shown or None

    @property
    def branding(self) -> Branding:
        return Branding(self.brand_name, self.brand_logo_url, self.brand_primary_color, self.brand_text_color)

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        return language_tag(parse_locale(value, strict=True))

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone(value)
        return value


def load_settings(root: Path) -> Settings:
    """Read ``root/nurture.toml`` (when present) and the environment; explain any mistake."""
    path = root / SETTINGS_FILE
    values: dict[str, Any] = {}
    if path.exists():
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{path}: not valid TOML: {exc}") from None
        known = set(Settings.model_fields)
        for key in values:
            if key not in known:
                hint = difflib.get_close_matches(key, sorted(known), n=1)
                suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
                raise SettingsError(f"{path}: unknown setting {key!r}{suggestion}")
    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise SettingsError(f"{path} / NURTURE_* settings: {problems}") from None


def secret_key(settings: Settings, root: Path) -> bytes:
    """The key that signs every token: the setting, else one generated once and kept in the workspace.

    A generated key is written with owner-only permissions so links in sent emails keep working
    across restarts without the operator having to invent a secret on day one.
    """
    if settings.secret_key is not None:
        value = settings.secret_key.get_secret_value()
        if len(value) < 16:
            raise SettingsError("secret_key is too short: use at least 16 characters")
        return value.encode("utf-8")
    path = root / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48), encoding="utf-8")
    return path.read_text(encoding="utf-8").strip().encode("utf-8")


def admin_address(bind: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9464`` for IPv6) as (host, port); ValueError names what is wrong."""
    host, colon, port = bind.strip().rpartition(":")
    host = host.strip("[]")
    if not colon or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{bind!r} is not HOST:PORT (e.g. 127.0.0.1:9464)")
    return host, int(port)


def base_url_not_https(base_url: str, *, loopback_too: bool = True) -> str | None:
    """Why a ``base_url`` that is not https is a problem, or None when it is https.

    Gmail and Yahoo honour one-click unsubscribe (RFC 8058) only with an https URL in
    List-Unsubscribe, and readers' browsers warn on plain http links. ``loopback_too=False`` passes
    a loopback address (localhost, 127.0.0.0/8, ::1): such a workspace is being tried out on one
    machine, no recipient can reach its links whatever the scheme, so there is nothing https
    would fix there; the daemon still says it when it starts.
    """
    parts = urlsplit(base_url)
    if parts.scheme.lower() == "https":
        return None
    if not loopback_too and _is_loopback(parts.hostname or ""):
        return None
    return (
        f"base_url {base_url!r} is not https: the List-Unsubscribe one-click URL (RFC 8058) must be "
        "https for mailbox providers to offer it, and links would go out unencrypted"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def origin_of(url: str) -> str | None:
    """``https://www.example.com:8443`` for any URL of that site (scheme, host and a port other
    than the scheme's own), as browsers send it in ``Origin``; None for what is not an http(s) URL.

    None too for an authority with user info (``@``) or a backslash: urllib reads
    ``https://evil.example\\@allowed.example/`` as host ``allowed.example``, a browser as
    ``evil.example``, so such a URL names no origin both agree on."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if "@" in parts.netloc or "\\" in parts.netloc:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in ("http", "https") or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    default = 80 if scheme == "http" else 443
    return f"{scheme}://{host}" if port is None or port == default else f"{scheme}://{host}:{port}"
