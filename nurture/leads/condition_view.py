"""A lead as campaign and scoring conditions see it (``lead.owner``, ``lead.unsubscribed``...)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nurture.store import bulk

LEAD_COLUMNS = (
    "id", "email", "email_domain", "first_name", "last_name", "company", "job_title", "industry",
    "company_size", "country", "timezone", "locale", "lifecycle_stage", "attributes", "owner_rep_id",
    "score", "fit_score", "behavior_score", "unsubscribed_at", "created_at", "updated_at",
    "conversion_probability",
)  # fmt: skip


# LEAD_COLUMNS under the names conditions use; "unsubscribed" is filled in from the timestamp.
_VIEW_NAMES = tuple(
    {"owner_rep_id": "owner", "unsubscribed_at": "unsubscribed"}.get(name, name) for name in LEAD_COLUMNS
)


def lead_for_conditions(values: Sequence[Any]) -> dict[str, Any]:
    """A lead as campaigns see it (``owner``, ``unsubscribed`` as documented), from the values of
    :data:`LEAD_COLUMNS` in order as the driver returns them. Built by hand: this runs for every
    lead of every batch the engine and scoring read."""
    lead = dict(zip(_VIEW_NAMES, values, strict=True))
    lead["unsubscribed"] = lead["unsubscribed"] is not None
    lead["created_at"] = bulk.read_instant(lead["created_at"])
    lead["updated_at"] = bulk.read_instant(lead["updated_at"])
    lead["attributes"] = bulk.read_json(lead["attributes"]) or {}
    return lead
