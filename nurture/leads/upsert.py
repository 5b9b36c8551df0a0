"""Creating and updating leads as systems send them (``POST /api/leads``), item by item.

The items are checked one by one (:mod:`nurture.leads.items`) and written the way a lead file's
rows are (:func:`nurture.leads.write_rows.write_leads`): matched by normalised address, blanks
erase nothing, new leads start with their first stage recorded. Then the batch hook a lead
import calls runs what follows (events kept for the new addresses join their leads, fit is
recomputed, an MQL is routed), all in the caller's transaction. Each item is answered
``created``, ``updated``, ``unchanged`` or ``rejected`` with its field errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from nurture.leads.consent import record_consents_once
from nurture.leads.items import FieldError, check_lead
from nurture.leads.report import BatchHook
from nurture.leads.validate import LeadValues
from nurture.leads.write_rows import write_leads
from nurture.store.schema import leads

REJECTED = "rejected"


@dataclass
class LeadAnswer:
    index: int
    email: str | None
    status: str  # created | updated | unchanged | rejected
    errors: list[FieldError] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"index": self.index, "email": self.email, "status": self.status}
        if self.errors:
            answer["errors"] = [e.as_json() for e in self.errors]
        return answer


@dataclass
class Upserted:
    answers: list[LeadAnswer]
    created: list[int] = field(default_factory=list)
    changed: list[int] = field(default_factory=list)
    consents: int = 0  # consent changes recorded

    def count(self, status: str) -> int:
        return sum(1 for a in self.answers if a.status == status)

    def as_json(self) -> dict[str, Any]:
        """The API's answer (and, under an Idempotency-Key, the answer a retry gets again)."""
        return {
            "received": len(self.answers),
            **{s: self.count(s) for s in ("created", "updated", "unchanged", REJECTED)},
            "leads": [a.as_json() for a in self.answers],
        }


def upsert_leads(
    conn: Connection,
    items: Sequence[Any],
    now: datetime,
    *,
    then: BatchHook | None,
    source: str = "api",
) -> Upserted:
    """Create or update a lead per good item, record the consents they carry, and tell ``then``
    (what follows a lead import) which leads were created and which changed."""
    items = _named_by_external_id(conn, items)
    checked = [check_lead(item, now, default_source=source) for item in items]
    answers = [
        LeadAnswer(i, c.values.email if c.values else _given_email(items[i]), REJECTED, c.errors)
        for i, c in enumerate(checked)
    ]
    rows: list[LeadValues] = []
    positions: list[int] = []
    first_item: dict[str, int] = {}
    for index, item in enumerate(checked):
        if item.values is None:
            continue
        first = first_item.setdefault(item.values.email, index)
        if first != index:
            answers[index].errors.append(
                FieldError("email", f"{item.values.email} already appears in item {first}; item skipped")
            )
            continue
        rows.append(item.values)
        positions.append(index)
    result = Upserted(answers)
    if not rows:
        return result
    written = write_leads(conn, rows, now, source, actor=source)
    for position, outcome in zip(positions, written.outcomes, strict=True):
        answers[position].status = outcome
    for position, column, reason in written.left_out:
        # Stored without it: the item is answered with what it got and the value it did not.
        answers[positions[position]].errors.append(FieldError(column, f"{reason}; stored without this field"))
    given = [
        (lead_id, consent)
        for position, lead_id in zip(positions, written.lead_ids, strict=True)
        for consent in checked[position].consents
        if lead_id is not None
    ]
    result.consents = record_consents_once(conn, given)
    result.created, result.changed = written.created, written.changed
    if then is not None and (written.created or written.changed):
        then(conn, written.created, written.changed, now)
    return result


def _named_by_external_id(conn: Connection, items: Sequence[Any]) -> list[Any]:
    """Items naming their lead by ``external_id`` alone get the lead's address; an unknown
    number stays without one, and is answered that ``email`` is missing."""
    wanted = {
        str(item["external_id"]).strip()
        for item in items
        if isinstance(item, dict)
        and not item.get("email")
        and isinstance(item.get("external_id"), (str, int))
    }
    if not wanted:
        return list(items)
    found = dict(
        conn.execute(
            select(leads.c.external_id, leads.c.email).where(leads.c.external_id.in_(sorted(wanted)))
        ).all()
    )
    named: list[Any] = []
    for item in items:
        if (
            isinstance(item, dict)
            and not item.get("email")
            and isinstance(item.get("external_id"), (str, int))
        ):
            email = found.get(str(item["external_id"]).strip())
            item = {**item, "email": email} if email is not None else item
        named.append(item)
    return named


def _given_email(item: Any) -> str | None:
    email = item.get("email") if isinstance(item, dict) else None
    return email[:320] if isinstance(email, str) else None
