"""Suppression lists brought from a previous tool: addresses or their SHA-256 hashes.

An entry without a topic joins the workspace's suppressions (never mailed again, on any topic);
with a topic, only that topic's campaigns skip it. Hashes are of the normalised (trimmed,
lower-case) address, the form nurture keeps for erased people, so lists exported as hashes from
other tools match when they hashed the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, select

from nurture.clock import as_utc
from nurture.engagement.optouts import SUPPRESSION_REASONS, stop_nurturing
from nurture.errors import NurtureError
from nurture.leads.addresses import InvalidAddress, normalise_email, suppression_hash
from nurture.store import bulk
from nurture.store.schema import leads, suppressions, topic_suppressions

_HASH = re.compile(r"^[0-9a-fA-F]{64}$")
_HEADERS = {"email", "e-mail", "address", "hash", "email_hash", "sha256"}
IMPORT_REASONS = tuple(r for r in SUPPRESSION_REASONS if r != "soft_bounces")


@dataclass(frozen=True)
class Entry:
    line: int
    email: str | None  # normalised; None when the file gave a hash
    email_hash: str


@dataclass
class ImportResult:
    added: int = 0
    already: int = 0
    enrollments_ended: int = 0
    problems: list[str] = field(default_factory=list)


def read_entries(path: Path) -> Iterator[Entry | str]:
    """Each line's first field as an entry, or a problem naming the file and line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise NurtureError(f"{path}: cannot read: {exc}") from None
    for number, raw in enumerate(text.splitlines(), start=1):
        value = re.split(r"[,;\t]", raw, maxsplit=1)[0].strip().strip('"')
        if not value or value.startswith("#") or (number == 1 and value.lower() in _HEADERS):
            continue
        if _HASH.match(value):
            yield Entry(number, None, value.lower())
            continue
        try:
            email = normalise_email(value)
        except InvalidAddress as exc:
            shown = value[:80]
            yield f"{path.name}: line {number}: not an e-mail address or a SHA-256 hash: {shown!r} ({exc})"
            continue
        yield Entry(number, email, suppression_hash(email))


def import_suppressions(
    conn: Connection,
    entries: Iterable[Entry],
    *,
    reason: str,
    topic: str | None,
    detail: str,
    now: datetime,
) -> ImportResult:
    """Store the entries (a repeated one changes nothing) and end the nurturing of known leads."""
    if reason not in IMPORT_REASONS:
        raise NurtureError(f"not a suppression reason: {reason!r} (one of {', '.join(IMPORT_REASONS)})")
    result = ImportResult()
    at = bulk.instant(conn, now)
    for entry in entries:
        if topic is None:
            sql = (
                "INSERT INTO suppressions (email_hash, reason, detail, created_at) "
                "VALUES (:hash, :reason, :detail, :at) ON CONFLICT (email_hash) DO NOTHING"
            )
        else:
            sql = (
                "INSERT INTO topic_suppressions (email_hash, topic, reason, detail, created_at) "
                "VALUES (:hash, :topic, :reason, :detail, :at) ON CONFLICT (email_hash, topic) DO NOTHING"
            )
        params = {
            "hash": entry.email_hash,
            "topic": topic,
            "reason": reason,
            "detail": detail[:500],
            "at": at,
        }
        if topic is None:
            params.pop("topic")
        added = bool(bulk.execute(conn, sql, params).rowcount)
        result.added += added
        result.already += not added
        if added and topic is None and entry.email is not None:
            lead_id = conn.scalar(select(leads.c.id).where(leads.c.email == entry.email))
            if lead_id is not None:
                result.enrollments_ended += stop_nurturing(conn, int(lead_id), reason, now)
    return result


def list_suppressions(
    conn: Connection, *, topic: str | None = None, limit: int = 10_000
) -> list[dict[str, Any]]:
    """Suppressions, newest first: the workspace's (topic None) and the topics' own."""
    rows: list[dict[str, Any]] = []
    if topic is None:
        s = suppressions.c
        for r in conn.execute(select(suppressions).order_by(s.created_at.desc()).limit(limit)):
            rows.append(_row(r.email_hash, None, r.reason, r.detail, r.created_at))
    t = topic_suppressions.c
    query = select(topic_suppressions).order_by(t.created_at.desc()).limit(limit)
    if topic is not None:
        query = query.where(t.topic == topic)
    for r in conn.execute(query):
        rows.append(_row(r.email_hash, r.topic, r.reason, r.detail, r.created_at))
    rows.sort(key=lambda row: row["created_at"], reverse=True)
    return rows[:limit]


def _row(email_hash: str, topic: str | None, reason: str, detail: str | None, at: datetime) -> dict[str, Any]:
    return {
        "email_hash": email_hash,
        "topic": topic,
        "reason": reason,
        "detail": detail,
        "created_at": as_utc(at).isoformat(),
    }


def hash_of(value: str) -> str:
    """An address or a hash, as the hash suppressions are kept under."""
    value = value.strip()
    if _HASH.match(value):
        return value.lower()
    try:
        return suppression_hash(normalise_email(value))
    except InvalidAddress as exc:
        raise NurtureError(f"{value!r} is not an e-mail address or a SHA-256 hash ({exc})") from None


def remove_suppression(conn: Connection, value: str, topic: str | None) -> str | None:
    """Lift one suppression; its former reason, or None when there was none.

    Erasures (``forgotten``) are never lifted: the person asked never to be processed again.
    """
    digest = hash_of(value)
    if topic is None:
        reason = conn.scalar(select(suppressions.c.reason).where(suppressions.c.email_hash == digest))
        if reason is None:
            return None
        if reason == "forgotten":
            raise NurtureError("this address was erased at the person's request; its suppression stays")
        conn.execute(delete(suppressions).where(suppressions.c.email_hash == digest))
        return str(reason)
    t = topic_suppressions.c
    reason = conn.scalar(select(t.reason).where(t.email_hash == digest, t.topic == topic))
    if reason is None:
        return None
    conn.execute(delete(topic_suppressions).where(t.email_hash == digest, t.topic == topic))
    return str(reason)
