"""The consent a lead brings along: the ``consent`` of an API item, or a lead file's columns.

``POST /api/leads`` takes ``"consent": {"topic": ..., "status": ..., "at": ..., "source": ...,
"text_version": ..., "ip": ...}`` (or a list of them). A lead file says the same per row: a JSON
Lines row with the same ``consent`` value, or columns named as the API reports its fields
(``consent.topic``, ``consent.status``, ``consent.at``, ``consent.source``,
``consent.text_version``, ``consent.ip``), so a file and the API agree on names and messages.
Either is checked here alike; a wrong value is named by that field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from nurture.clock import parse_instant
from nurture.errors import NurtureError
from nurture.json_kinds import json_kind
from nurture.leads.consent import CONSENT_STATES, GivenConsent

CONSENT_KEY = "consent"
CONSENT_FIELDS = ("topic", "status", "at", "source", "text_version", "ip")
_PREFIX = CONSENT_KEY + "."
MAX_TOPIC = 100
MAX_TEXT_VERSION = 100
MAX_SOURCE = 100
MAX_IP = 45
MAX_CONSENTS = 20
MAX_FUTURE = timedelta(minutes=5)  # clock skew between the sender and us

Problems = list[tuple[str, str]]  # (field, message)


def is_consent_column(name: str) -> bool:
    """Whether a file's column (or an item's key) may say something about consent."""
    return name == CONSENT_KEY or name.startswith(_PREFIX)


def is_flat_consent_column(name: str) -> bool:
    """Whether a file's column is one of the flat ``consent.FIELD`` columns."""
    return name.startswith(_PREFIX)


def consent_of_columns(values: dict[str, Any], *, shaped_only: bool = False) -> Any:
    """Take the consent columns out of a row (or item): the ``consent`` value they make up (None
    when it says nothing about consent; blank cells say nothing).

    With ``shaped_only`` (a lead file's row) a ``consent`` column counts only when it holds what
    the API takes there, an object or a list of objects; any other value (a spreadsheet's
    "yes") stays what such a column always was, a custom attribute.
    """
    given = values.get(CONSENT_KEY)
    if given is not None and (not shaped_only or _shaped(given)):
        del values[CONSENT_KEY]
    else:
        given = None
    columns = [name for name in values if name.startswith(_PREFIX)]
    if not columns:
        return given
    flat = {name.removeprefix(_PREFIX): values.pop(name) for name in columns}
    flat = {key: value for key, value in flat.items() if value is not None and value != ""}
    if given is not None and flat:  # both ways at once: each is a consent
        return [*(given if isinstance(given, list) else [given]), flat]
    return flat or given


def _shaped(value: Any) -> bool:
    if isinstance(value, Mapping):
        return True
    return isinstance(value, list) and bool(value) and all(isinstance(entry, Mapping) for entry in value)


def given_consents(raw: Any, now: datetime, default_source: str, problems: Problems) -> list[GivenConsent]:
    """The consents ``raw`` gives (one object or a list); each wrong field is added to
    ``problems``, and a consent with one is left out."""
    if raw is None:
        return []
    given = raw if isinstance(raw, list) else [raw]
    if len(given) > MAX_CONSENTS:
        problems.append((CONSENT_KEY, f"at most {MAX_CONSENTS} consents per lead"))
        return []
    found: list[GivenConsent] = []
    for position, entry in enumerate(given):
        name = f"{CONSENT_KEY}[{position}]" if isinstance(raw, list) else CONSENT_KEY
        if not isinstance(entry, Mapping):
            problems.append((name, f"must be an object, not {json_kind(entry)}"))
            continue
        before = len(problems)
        unknown = sorted(set(entry) - set(CONSENT_FIELDS))
        if unknown:
            problems.append((f"{name}.{unknown[0]}", f"is not a consent field ({', '.join(CONSENT_FIELDS)})"))
        topic = _text(entry, "topic", MAX_TOPIC, name, problems, required=True)
        status = _text(entry, "status", 16, name, problems) or "confirmed"
        if status not in CONSENT_STATES:
            problems.append((f"{name}.status", f"is one of {', '.join(CONSENT_STATES)}"))
        source = _text(entry, "source", MAX_SOURCE, name, problems)
        text_version = _text(entry, "text_version", MAX_TEXT_VERSION, name, problems)
        ip = _text(entry, "ip", MAX_IP, name, problems)
        at = _instant(entry.get("at"), now, f"{name}.at", problems)
        if len(problems) == before and topic is not None:
            found.append(
                GivenConsent(
                    topic, status, at, f"{default_source}:{source}" if source else default_source,
                    text_version, ip,
                )
            )  # fmt: skip
    return found


def consents_json(consents: list[GivenConsent]) -> str | None:
    """The consents as one text value (a staged row's column), None for none."""
    if not consents:
        return None
    return json.dumps(
        [[c.topic, c.status, c.at.isoformat(), c.source, c.text_version, c.ip] for c in consents],
        ensure_ascii=False,
    )


def consents_of_json(text: str | None) -> list[GivenConsent]:
    """What :func:`consents_json` wrote."""
    if not text:
        return []
    return [
        GivenConsent(topic, status, datetime.fromisoformat(at), source, text_version, ip)
        for topic, status, at, source, text_version, ip in json.loads(text)
    ]


def _text(
    entry: Mapping[str, Any],
    key: str,
    limit: int,
    name: str,
    problems: Problems,
    *,
    required: bool = False,
) -> str | None:
    value = entry.get(key)
    if value is None or value == "":
        if required:
            problems.append((f"{name}.{key}", "is required"))
        return None
    if not isinstance(value, str):
        problems.append((f"{name}.{key}", f"must be a string, not {json_kind(value)}"))
        return None
    text = value.strip()
    if len(text) > limit or "\n" in text or "\r" in text:
        problems.append((f"{name}.{key}", f"is one line of at most {limit} characters"))
        return None
    return text


def _instant(value: Any, now: datetime, name: str, problems: Problems) -> datetime:
    if value is None or value == "":
        return now
    if not isinstance(value, str):
        problems.append((name, f"must be an ISO-8601 string, not {json_kind(value)}"))
        return now
    try:
        instant = parse_instant(value)
    except NurtureError:
        problems.append((name, f"{value[:60]!r} is not an ISO-8601 date and time"))
        return now
    if instant > now + MAX_FUTURE:
        problems.append((name, f"{value[:60]!r} is in the future"))
        return now
    return instant
