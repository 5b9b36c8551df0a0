"""``opened()`` and ``clicked()`` for the enrollments of one batch, read from the database once.

They answer for the lead's current enrollment: did the lead open (or click in) the email of that
send step? A reference may name a send step or a template. Opens by privacy proxies and clicks by
link scanners are machine-flagged and do not count; a click counts as an open, because a reader
who blocks images still clicked.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, select

from nurture.definitions import Campaign
from nurture.store.schema import events, messages

OPEN, CLICK = "email_open", "email_click"


class BatchEngagement:
    def __init__(self, conn: Connection, enrollment_ids: Sequence[int]) -> None:
        self._conn = conn
        self._ids = list(enrollment_ids)
        self._seen: dict[int, set[tuple[str, str]]] | None = None

    def _load(self) -> dict[int, set[tuple[str, str]]]:
        if self._seen is None:
            seen: dict[int, set[tuple[str, str]]] = {}
            if self._ids:
                query = (
                    select(messages.c.enrollment_id, messages.c.step_id, events.c.type)
                    .join(messages, events.c.message_id == messages.c.id)
                    .where(
                        messages.c.enrollment_id.in_(self._ids),
                        events.c.type.in_((OPEN, CLICK)),
                        events.c.machine_reason.is_(None),
                    )
                )
                for enrollment_id, step_id, type_ in self._conn.execute(query):
                    seen.setdefault(int(enrollment_id), set()).add((step_id, type_))
            self._seen = seen
        return self._seen

    def for_enrollment(self, enrollment_id: int, campaign: Campaign) -> EnrollmentEngagement:
        return EnrollmentEngagement(self, enrollment_id, campaign)


class EnrollmentEngagement:
    """The Engagement a campaign's conditions see for one enrollment."""

    def __init__(self, batch: BatchEngagement, enrollment_id: int, campaign: Campaign) -> None:
        self._batch = batch
        self._id = enrollment_id
        self._campaign = campaign

    def _steps(self, ref: str) -> set[str]:
        # A step's variants may use other templates: naming any of them means the step.
        steps = {
            s.step_id
            for s in self._campaign.send_steps
            if s.step_id == ref or ref == s.send.template or ref in {v.template for v in s.send.variants}
        }
        return steps or {ref}

    def _did(self, ref: str, types: tuple[str, ...]) -> bool:
        seen = self._batch._load().get(self._id, set())
        steps = self._steps(ref)
        return any(step in steps and type_ in types for step, type_ in seen)

    def opened(self, ref: str) -> bool:
        return self._did(ref, (OPEN, CLICK))

    def clicked(self, ref: str) -> bool:
        return self._did(ref, (CLICK,))
