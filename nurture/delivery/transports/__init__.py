"""Transports: where built messages go (a Maildir, an SMTP relay, memory).

``parse_transport(settings.transport, workspace.root, settings)`` creates the configured one; the
caller owns it and must ``await transport.close()`` when done.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from nurture.delivery.transports.base import (
    HELD_BACK,
    GoAhead,
    OutgoingMessage,
    SendResult,
    SendStatus,
    Transport,
    TransportError,
)
from nurture.delivery.transports.maildir import MaildirTransport
from nurture.delivery.transports.memory import MemoryTransport
from nurture.delivery.transports.smtp import SmtpSettings, SmtpTransport

if TYPE_CHECKING:
    from nurture.settings import Settings

__all__ = [
    "HELD_BACK",
    "GoAhead",
    "MaildirTransport",
    "MemoryTransport",
    "OutgoingMessage",
    "SendResult",
    "SendStatus",
    "SmtpSettings",
    "SmtpTransport",
    "Transport",
    "TransportError",
    "parse_transport",
    "redact_url",
]

_SMTP_OPTIONS = (
    "tls", "timeout", "data_timeout", "ca_file", "verify", "helo", "max_connections", "max_rate",
    "pool_size", "rate",  # the earlier names of max_connections and max_rate
)  # fmt: skip
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_transport(url: str, workspace_root: Path, settings: Settings | None = None) -> Transport:
    """The transport a ``transport`` setting names.

    * ``maildir:PATH[?fsync=true]`` (PATH relative to the workspace) — the default, nothing leaves;
    * ``smtp://[user:pass@]host[:port][?tls=starttls|implicit|none&timeout=30&data_timeout=600
      &ca_file=PATH&verify=true&helo=NAME&max_connections=40&max_rate=10]`` — ``smtps://`` means
      ``tls=implicit``; ``pool_size`` and ``rate`` are accepted for ``max_connections`` and ``max_rate``;
    * ``memory:`` — keep messages in memory (simulations, tests).

    Connections, rate (emails/s) and the wait for the answer to the final dot default to the
    ``smtp_pool_size``, ``smtp_rate_per_second`` and ``smtp_data_timeout`` settings.
    """
    scheme, _, rest = url.partition(":")
    scheme = scheme.lower()
    if scheme == "maildir":
        return _maildir(rest, workspace_root, url)
    if scheme in ("smtp", "smtps"):
        return SmtpTransport(parse_smtp_url(url, workspace_root, settings))
    if scheme == "memory":
        return MemoryTransport()
    raise TransportError(
        f"unknown transport {redact_url(url)!r}: use maildir:PATH or smtp://user:pass@host:port?tls=starttls"
    )


def _maildir(rest: str, workspace_root: Path, url: str) -> MaildirTransport:
    location, _, query = rest.partition("?")
    if location.startswith("//"):
        location = location[2:]
    if not location:
        raise TransportError(f"{url!r}: name the Maildir folder, e.g. maildir:outbox")
    options = _options(query, ("fsync",), url)
    path = Path(unquote(location)).expanduser()
    if not path.is_absolute():
        path = workspace_root / path
    try:
        return MaildirTransport(path, fsync=_flag(options.get("fsync", "false"), "fsync", url))
    except OSError as exc:
        raise TransportError(f"cannot use {path} as a Maildir: {exc.strerror or exc}") from None


def parse_smtp_url(url: str, workspace_root: Path, settings: Settings | None = None) -> SmtpSettings:
    """:class:`SmtpSettings` from an ``smtp://`` or ``smtps://`` URL; errors never show the password."""
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise TransportError(f"{shown!r}: not a valid SMTP URL (port must be a number 1-65535)") from None
    if not parts.hostname:
        raise TransportError(
            f"{shown!r}: the SMTP URL needs a host, e.g. smtp://user:pass@mail.example.com:587"
        )
    if parts.path not in ("", "/"):
        raise TransportError(f"{shown!r}: an SMTP URL has no path")
    options = _options(parts.query, _SMTP_OPTIONS, shown)
    default_tls = "implicit" if parts.scheme.lower() == "smtps" else "starttls"
    tls = options.get("tls", default_tls)
    if tls not in ("starttls", "implicit", "none"):
        raise TransportError(f"{shown!r}: tls must be starttls, implicit or none, not {tls!r}")
    if port is None:
        port = {"starttls": 587, "implicit": 465, "none": 25}[tls]
    ca_file = options.get("ca_file")
    if ca_file is not None:
        ca_path = Path(ca_file).expanduser()
        ca_file = str(ca_path if ca_path.is_absolute() else workspace_root / ca_path)
        if not Path(ca_file).is_file():
            raise TransportError(f"{shown!r}: ca_file {ca_file} does not exist")
    return SmtpSettings(
        host=parts.hostname,
        port=port,
        tls=tls,  # type: ignore[arg-type]
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        timeout=_number(options.get("timeout", "30"), "timeout", shown, minimum=0.01),
        data_timeout=_number(options.get("data_timeout", str(settings.smtp_data_timeout if settings else 600)),  # noqa: E501
                             "data_timeout", shown, minimum=0.01),
        ca_file=ca_file,
        verify=_flag(options.get("verify", "true"), "verify", shown),
        helo=options.get("helo"),
        pool_size=int(_number(_either(options, "max_connections", "pool_size",
                                      str(settings.smtp_pool_size if settings else 64)),
                              "max_connections", shown, minimum=1)),
        rate_per_second=_number(_either(options, "max_rate", "rate",
                                        str(settings.smtp_rate_per_second if settings else 0)),
                                "max_rate", shown, minimum=0),
    )  # fmt: skip


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (however oddly the password is written)."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    at = rest.rfind("@")
    colon = rest.find(":")
    if at > 0 and 0 <= colon < at:
        rest = rest[: colon + 1] + "***" + rest[at:]
    return f"{scheme}://{rest}"


def _options(query: str, known: tuple[str, ...], shown: str) -> dict[str, str]:
    try:
        parsed = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise TransportError(f"{shown!r}: cannot read the options after '?'") from None
    options: dict[str, str] = {}
    for key, values in parsed.items():
        if key not in known:
            raise TransportError(f"{shown!r}: unknown option {key!r} (known: {', '.join(known)})")
        options[key] = values[-1]
    return options


def _either(options: dict[str, str], name: str, earlier: str, default: str) -> str:
    """The option under its name, else under its earlier name, else ``default``."""
    return options.get(name, options.get(earlier, default))


def _flag(value: str, name: str, shown: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise TransportError(f"{shown!r}: {name} must be true or false, not {value!r}")


def _number(value: str, name: str, shown: str, *, minimum: float) -> float:
    try:
        number = float(value)
    except ValueError:
        raise TransportError(f"{shown!r}: {name} must be a number, not {value!r}") from None
    if number < minimum:
        raise TransportError(f"{shown!r}: {name} must be at least {minimum:g}")
    return number
