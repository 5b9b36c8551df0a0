"""Structured logs never show a secret; the systemd unit has what operators rely on."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from nurture.daemon import Redactor, configure_logging, lock_key, settings_secrets
from nurture.daemon.logs import log_event
from nurture.settings import Settings

REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture
def restore_logging():  # type: ignore[no-untyped-def]
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_passwords_and_keys_never_reach_the_log(restore_logging: None) -> None:
    settings = Settings(
        database_url="postgresql://nurture:db-pa55word@db.internal/nurture",
        transport="smtp://mailer:smtp%20secret@relay.example:587?tls=starttls",
        secret_key="signing-key-0123456789abcdef",
        ingest_api_key="ingest-key-0123456789",
        bounce_mailbox="imaps://bounces:imap%2Fpa55@mail.example/INBOX",
    )
    stream = io.StringIO()
    configure_logging("json", "info", settings_secrets(settings), stream=stream)
    logger = logging.getLogger("nurture.daemon.test")
    log_event(
        logger, logging.WARNING, "job.database_unavailable", error=f"cannot reach {settings.database_url}"
    )
    try:
        raise RuntimeError(
            "relay said no to smtp://mailer:smtp%20secret@relay.example:587 (ingest-key-0123456789)"
        )
    except RuntimeError as exc:
        logger.error("job.failed", exc_info=exc, extra={"fields": {"key": "signing-key-0123456789abcdef"}})
    logger.info("a url from elsewhere: https://someone:hunter22@example.com/path")
    logger.warning("the IMAP server echoed imap/pa55 back")  # as the server received it, decoded
    output = stream.getvalue()
    for secret in (
        "db-pa55word",
        "smtp%20secret",
        "signing-key-0123456789abcdef",
        "ingest-key-0123456789",
        "hunter22",
        "imap%2Fpa55",
        "imap/pa55",
    ):
        assert secret not in output
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert lines[0]["event"] == "job.database_unavailable" and lines[0]["level"] == "warning"
    assert lines[0]["error"] == "cannot reach postgresql://nurture:***@db.internal/nurture"
    assert lines[1]["key"] == "***" and "Traceback" in lines[1]["traceback"]


def test_text_logs_are_key_value_lines(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("text", "debug", [], stream=stream)
    log_event(
        logging.getLogger("nurture.daemon"), logging.INFO, "job.done", job="send", sent=3, note="two words"
    )
    line = stream.getvalue().strip()
    assert ' level=info logger=nurture.daemon event=job.done job=send sent=3 note="two words"' in line


def test_the_redactor_hides_every_url_password() -> None:
    redact = Redactor(["abc"])  # too short to be a secret worth matching everywhere
    assert redact("smtps://u:p@h:465 and postgresql+psycopg://x:y%40z@db/n") == (
        "smtps://u:***@h:465 and postgresql+psycopg://x:***@db/n"
    )
    assert redact("abc stays") == "abc stays"


def test_cluster_lock_keys_are_stable_and_distinct() -> None:
    keys = {lock_key(name) for name in ("segments", "decay", "sla", "bounces", "webhooks", "entries")}
    assert len(keys) == 6
    assert lock_key("sla") == lock_key("sla")
    assert all(-(2**63) <= key < 2**63 for key in keys)


def test_the_systemd_unit_has_what_operators_rely_on() -> None:
    unit: dict[str, list[str]] = {}
    for raw in (REPOSITORY / "scheduler" / "nurture.service").read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            unit.setdefault(key, []).append(value)
    expected = {
        "Type": "notify",
        "Restart": "on-failure",
        "KillSignal": "SIGTERM",
        "TimeoutStopSec": "15",
        "ExecReload": "/bin/kill -HUP $MAINPID",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "User": "nurture",
    }
    assert {key: unit[key][0] for key in expected} == expected
    assert unit["ExecStart"][0].endswith("nurture run")
    assert unit["ReadWritePaths"] == ["/srv/nurture"] and unit["WorkingDirectory"] == ["/srv/nurture"]
    assert unit["EnvironmentFile"] and unit["RestartSec"]
