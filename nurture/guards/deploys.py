"""Which version of each campaign is deployed: recorded in the audit log when it goes live."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Connection, select

from nurture.guards.audit import record_audit
from nurture.store.schema import audit_log

SUBJECT_PREFIX = "campaign:"


def deployed_versions(conn: Connection) -> dict[str, str]:
    """The version (content hash) of each campaign that went live last, by campaign key."""
    a = audit_log.c
    query = select(a.subject, a.detail).where(a.action == "deploy").order_by(a.id)
    found: dict[str, str] = {}
    for subject, detail in conn.execute(query):
        if subject.startswith(SUBJECT_PREFIX) and isinstance(detail, dict) and detail.get("version"):
            found[subject.removeprefix(SUBJECT_PREFIX)] = str(detail["version"])
    return found


def record_deployments(conn: Connection, versions: Mapping[str, str], actor: str, now: datetime) -> list[str]:
    """Audit every campaign whose running version is not the one deployed last; the keys recorded."""
    deployed = deployed_versions(conn)
    recorded = []
    for key, version in sorted(versions.items()):
        previous = deployed.get(key)
        if previous == version:
            continue
        record_audit(
            conn, actor, "deploy", f"{SUBJECT_PREFIX}{key}", {"version": version, "previous": previous}, now
        )
        recorded.append(key)
    return recorded
