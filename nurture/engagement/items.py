"""One engagement event as sent by the API or a JSON Lines file -> checked values, or why not.

An item is a JSON object::

    {"type": "download", "email": "anna@example.com", "occurred_at": "2026-03-02T09:00:00Z",
     "id": "crm-4711", "asset_type": "whitepaper"}

``type`` is required; the lead is named by ``email`` or by ``message_id`` (a Message-ID header or
nurture's own message number); ``occurred_at`` defaults to the time it is received; ``id`` (or
``idempotency_key``) makes a retried event count once; ``url`` is kept for page views and clicks;
every other key becomes a property the scoring model and conditions read as ``event.NAME``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from nurture.json_kinds import json_kind
from nurture.leads.addresses import InvalidAddress, normalise_email

EMAIL_OPEN = "email_open"
EMAIL_CLICK = "email_click"
UNSUBSCRIBE = "unsubscribe"
BOUNCE = "bounce"
COMPLAINT = "complaint"

ENGAGEMENT_TYPES = frozenset(
    {
        EMAIL_OPEN,
        EMAIL_CLICK,
        UNSUBSCRIBE,
        BOUNCE,
        COMPLAINT,
        "download",
        "newsletter_subscribe",
        "page_view",
        "webinar_registered",
        "webinar_attended",
    }
)
CUSTOM_TYPE = re.compile(r"[a-z][a-z0-9_.-]{0,63}")

MAX_FUTURE = timedelta(days=1)  # beyond clock skew: a typo in the year, or a wrong zone
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
MAX_KEY_LENGTH = 200
MAX_URL_LENGTH = 4096
MAX_PROPERTIES = 100
MAX_PROPERTY_NAME = 64
MAX_PROPERTY_BYTES = 16 * 1024
MAX_MACHINE_REASON = 64

# Keys with a meaning of their own; everything else is a property.
RESERVED = frozenset(
    {"type", "email", "occurred_at", "id", "idempotency_key", "message_id", "url", "machine_reason"}
)

# Events come in runs for the same people: each address is normalised once (errors are not kept).
_normalised = lru_cache(maxsize=65_536)(normalise_email)
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


class ItemInvalid(ValueError):
    """One field of an item is wrong; ``field`` names it (None: the item as a whole)."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


class EventItem(NamedTuple):
    """A checked item. The lead is not resolved yet: that needs the database.

    A named tuple: made for every line of an import, it is built at less than half the cost of
    a frozen dataclass."""

    type: str
    occurred_at: datetime
    email: str | None
    message_ref: int | str | None
    url: str | None
    idempotency_key: str | None
    machine_reason: str | None
    properties: dict[str, Any]
    properties_json: str  # the properties as stored, computed once while checking their size


CONTENT_KEY_PREFIX = "content:"


def content_key(item: EventItem, occurred_at_given: bool) -> str:
    """The identity of an event without an ``id``, made from what it says: its type, its address
    (or email), the time it gave (none when it gave none: a file read again must give the same
    key, while "when received" would not) and its URL and properties. Two lines saying exactly
    the same thing are one event."""
    said = [
        item.type,
        item.email,
        item.message_ref,
        item.occurred_at.isoformat() if occurred_at_given else None,
        item.url,
        item.machine_reason,
        item.properties,
    ]
    canonical = json.dumps(said, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return CONTENT_KEY_PREFIX + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def is_event_type(name: str) -> bool:
    """An engagement type nurture knows, or a well-formed custom one."""
    return name in ENGAGEMENT_TYPES or CUSTOM_TYPE.fullmatch(name) is not None


def parse_item(item: Any, now: datetime) -> EventItem:
    """Check one item; raise :class:`ItemInvalid` naming the first field that is wrong."""
    if type(item) is not dict and not isinstance(item, Mapping):
        raise ItemInvalid(None, f"an event is a JSON object, not {json_kind(item)}")
    event_type = _event_type(item.get("type"))
    email = _email(item.get("email"))
    message_ref = _message_ref(item.get("message_id"))
    if email is None and message_ref is None:
        raise ItemInvalid("email", "is required (or a message_id naming the email the event belongs to)")
    properties = _properties(item)
    try:
        properties_json = _dumps(properties) if properties else "{}"
    except ValueError:
        raise ItemInvalid(None, "a property is not a finite number (NaN or Infinity)") from None
    # Only long text can be too large; most items skip the encoding.
    if len(properties_json) > MAX_PROPERTY_BYTES // 4 and len(properties_json.encode()) > MAX_PROPERTY_BYTES:
        raise ItemInvalid(None, f"the properties are larger than {MAX_PROPERTY_BYTES // 1024} KiB")
    return EventItem(
        type=event_type,
        occurred_at=_occurred_at(item.get("occurred_at"), now),
        email=email,
        message_ref=message_ref,
        url=_text(item, "url", MAX_URL_LENGTH),
        idempotency_key=_idempotency_key(item),
        machine_reason=_text(item, "machine_reason", MAX_MACHINE_REASON),
        properties=properties,
        properties_json=properties_json,
    )


def _event_type(value: Any) -> str:
    if value is None:
        raise ItemInvalid("type", "is required")
    if not isinstance(value, str):
        raise ItemInvalid("type", f"must be a string, not {json_kind(value)}")
    if value in ENGAGEMENT_TYPES or CUSTOM_TYPE.fullmatch(value):
        return value
    raise ItemInvalid(
        "type",
        f"{value[:80]!r} is not an event type: use one of {', '.join(sorted(ENGAGEMENT_TYPES))}, "
        "or a custom name of lower-case letters, digits, '_', '.' and '-' that starts with a letter "
        "(at most 64 characters)",
    )


def _email(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ItemInvalid("email", f"must be a string, not {json_kind(value)}")
    try:
        return _normalised(value)
    except InvalidAddress as exc:
        raise ItemInvalid("email", str(exc)) from None


def _message_ref(value: Any) -> int | str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ItemInvalid("message_id", "must be a Message-ID or a message number, not a boolean")
    if isinstance(value, float):
        raise ItemInvalid("message_id", _not_a_whole_number(value))
    if isinstance(value, int):
        if value <= 0:
            raise ItemInvalid("message_id", "a message number is positive")
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        if not text or len(text) > 255 or any(ch.isspace() for ch in text):
            raise ItemInvalid("message_id", "is not a Message-ID (like <abc123@example.com>)")
        return text if text.startswith("<") else f"<{text}>"
    raise ItemInvalid("message_id", f"must be a string or a number, not {json_kind(value)}")


def _occurred_at(value: Any, now: datetime) -> datetime:
    if value is None or value == "":
        return now
    if not isinstance(value, str):
        raise ItemInvalid("occurred_at", f"must be an ISO-8601 string, not {json_kind(value)}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ItemInvalid(
            "occurred_at", f"{value[:60]!r} is not an ISO-8601 date and time (e.g. 2026-03-02T09:00:00Z)"
        ) from None
    # A time without a zone is read as UTC, as everywhere else in nurture.
    instant = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    if instant > now + MAX_FUTURE:
        raise ItemInvalid(
            "occurred_at", f"{value[:60]!r} is more than a day in the future (received at {now.isoformat()})"
        )
    if instant < EARLIEST:
        raise ItemInvalid("occurred_at", f"{value[:60]!r} is before 1970")
    return instant


def _idempotency_key(item: Mapping[str, Any]) -> str | None:
    if item.get("id") is None and item.get("idempotency_key") is None:
        return None  # most events carry no key
    given = [(name, item.get(name)) for name in ("id", "idempotency_key") if item.get(name) is not None]
    keys: list[str] = []
    for name, value in given:
        if isinstance(value, float):
            raise ItemInvalid(name, _not_a_whole_number(value))
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ItemInvalid(name, f"must be a string or a whole number, not {json_kind(value)}")
        key = str(value).strip()
        if not key:
            raise ItemInvalid(name, "is empty")
        if len(key) > MAX_KEY_LENGTH:
            raise ItemInvalid(name, f"is longer than {MAX_KEY_LENGTH} characters")
        keys.append(key)
    if len(keys) == 2 and keys[0] != keys[1]:
        raise ItemInvalid("idempotency_key", "differs from id; give one of them")
    return keys[0] if keys else None


def _text(item: Mapping[str, Any], name: str, limit: int) -> str | None:
    value = item.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ItemInvalid(name, f"must be a string, not {json_kind(value)}")
    if len(value) > limit:
        raise ItemInvalid(name, f"is longer than {limit} characters")
    return value


def _properties(item: Mapping[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    nested = item.get("properties")
    if isinstance(nested, Mapping):
        # {"properties": {...}} as many trackers send it; top-level keys win over nested ones.
        properties.update(nested)
    else:
        nested = None
    for key, value in item.items():
        if key not in RESERVED and not (nested is not None and key == "properties"):
            properties[key] = value
    if len(properties) > MAX_PROPERTIES:
        raise ItemInvalid(None, f"has {len(properties)} properties; at most {MAX_PROPERTIES} are kept")
    for key in properties:
        if not isinstance(key, str) or not key or len(key) > MAX_PROPERTY_NAME:
            raise ItemInvalid(
                str(key)[:MAX_PROPERTY_NAME], f"a property name has 1 to {MAX_PROPERTY_NAME} characters"
            )
    return properties


def _not_a_whole_number(value: float) -> str:
    # JSON numbers with a fraction or an exponent arrive as floats: 1e400 as infinity, 1e20 as
    # 100000000000000000000.0, neither the digits that were sent. A key must be kept exactly.
    if not math.isfinite(value):
        return "is a number too large to keep exactly; send it as a string"
    if value.is_integer():
        return f"is written with a fraction or an exponent ({value!r}); send a whole number or a string"
    return f"must be a string or a whole number, not {value!r}"
