"""Settings: ``nurture.toml`` in the workspace, overridden by ``NURTURE_<KEY>`` variables."""

from __future__ import annotations

import difflib
import secrets
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from nurture.errors import SettingsError

SETTINGS_FILE = "nurture.toml"
SECRET_FILE = ".nurture/secret_key"  # noqa: S105 - a path, not a secret


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
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8025, ge=1, le=65535)
    ingest_api_key: SecretStr | None = None
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
    smtp_pool_size: int = Field(default=4, ge=1, le=64)
    outbox_lease: float = Field(
        default=60, ge=1, description="seconds a sender's claim lasts unless extended (a dead sender's wait)"
    )
    smtp_data_timeout: float = Field(
        default=600, gt=0, description="seconds to wait for the relay's answer to the final dot of DATA"
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

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from nurture.zones import zone

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
