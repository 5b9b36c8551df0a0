"""Structured logs: one JSON object (or one ``key=value`` line) per event on stderr, secrets hidden.

Journald, Loki or any log shipper reads them line by line. Every line passes through a redactor
that knows the workspace's secrets (database and SMTP passwords, the signing and ingest keys) and
blanks the password of any URL, so no exception text, however it was built, can leak one.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TextIO
from urllib.parse import unquote

from sqlalchemy.engine import make_url

from nurture.settings import Settings

LogFormat = Literal["json", "text"]
LOGGER = "nurture.daemon"
HIDDEN = "***"

# scheme://user:password@host: the password part, wherever a URL shows up in a message.
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)(?P<secret>[^@\s]+)(?=@)")
# Loggers of the libraries the daemon runs: their lines go through the same formatter.
# uvicorn.access is left alone: uvicorn turns access logging off by leaving it without handlers.
_LIBRARY_LOGGERS = ("uvicorn", "uvicorn.error", "apscheduler", "aiosmtplib", "httpx")


class Redactor:
    """Replaces every known secret, and every password inside a URL, with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is hidden whole.
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, HIDDEN)
        return _URL_PASSWORD.sub(lambda m: m.group("head") + HIDDEN, text)


def settings_secrets(settings: Settings) -> list[str]:
    """The secret values a workspace's settings hold (never logged, whatever the message)."""
    found: list[str] = []
    for url in (settings.database_url, settings.transport, settings.bounce_mailbox or ""):
        password = _password_of(url)
        if password:
            found.extend((password, unquote(password)))  # as written, and as the relay receives it
    for key in (settings.secret_key, settings.ingest_api_key):
        if key is not None:
            found.append(key.get_secret_value())
    return found


def _password_of(url: str) -> str | None:
    match = _URL_PASSWORD.search(url)
    if match:
        return match.group("secret")
    try:
        return make_url(url).password if "://" in url else None
    except Exception:
        return None


class EventFormatter(logging.Formatter):
    """Formats a record as JSON (``ts``, ``level``, ``logger``, ``event``, then its fields) or text."""

    def __init__(self, style: LogFormat, redact: Redactor) -> None:
        super().__init__()
        self.output = style
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, Mapping):
            fields.update(extra)
        if record.exc_info and record.exc_info[1] is not None:
            fields["traceback"] = self.formatException(record.exc_info)
        if self.output == "json":
            line = json.dumps(fields, ensure_ascii=False, default=str, separators=(",", ":"))
        else:
            line = " ".join(f"{key}={_text_value(value)}" for key, value in fields.items())
        return self.redact(line)


def _text_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return json.dumps(text, ensure_ascii=False) if (not text or any(c in text for c in ' ="\n')) else text


def configure_logging(
    style: LogFormat = "json",
    level: str = "info",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> Redactor:
    """Send nurture's and its libraries' logs to stderr in one format; returns the redactor."""
    redact = Redactor(secrets)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(EventFormatter(style, redact))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    adopt_library_loggers()
    # APScheduler says "Running job ..." for every run (our job lines say more); Alembic describes
    # its dialect whenever the schema is checked.
    for chatty in ("apscheduler", "alembic"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
    return redact


def adopt_library_loggers() -> None:
    """Make library loggers (uvicorn installs its own handlers) write through the root handler."""
    for name in _LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        for old in list(library.handlers):
            library.removeHandler(old)
        library.propagate = True


def log_event(logger: logging.Logger, level: int, event: str, /, **fields: Any) -> None:
    """Log ``event`` (a short dotted name such as ``job.done``) with structured fields."""
    logger.log(level, event, extra={"fields": fields})


def error_text(exc: BaseException) -> str:
    """An exception as one short line: its class and its first line (no traceback)."""
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
