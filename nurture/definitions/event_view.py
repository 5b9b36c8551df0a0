"""An event as campaign and scoring conditions see it (``event.url``, ``event.asset_type``...)."""

from __future__ import annotations

from typing import Any


def event_view(row: Any) -> dict[str, Any]:
    """An event as conditions see it: its fields and its properties side by side. A URL, campaign
    or step the event does not have is left out, so it reads as undefined (``'/pricing' in
    event.url`` is false for a page view sent without a URL) rather than failing on ``None``."""
    view = dict(row.properties or {})
    view.update(type=row.type, occurred_at=row.occurred_at, machine=row.machine_reason is not None)
    for name, value in (("url", row.url), ("campaign", row.campaign_key), ("step", row.step_id)):
        if value is not None:
            view[name] = value
    return view
