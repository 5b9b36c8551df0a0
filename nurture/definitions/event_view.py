"""An event as campaign and scoring conditions see it (``event.url``, ``event.asset_type``...)."""

from __future__ import annotations

from typing import Any


def event_view(row: Any) -> dict[str, Any]:
    """An event as conditions see it: its fields and its properties side by side."""
    view = dict(row.properties or {})
    view.update(
        type=row.type,
        occurred_at=row.occurred_at,
        url=row.url,
        campaign=row.campaign_key,
        step=row.step_id,
        machine=row.machine_reason is not None,
    )
    return view
