"""Writes a generated history (:mod:`nurture.scoring.synthetic`) into a store, as recorded facts.

Leads, their events, the ledger lines scoring wrote for them and the stage moves sales made go in
as they would have been recorded, so ``score evaluate``, ``score suggest`` and the report read a
generated history exactly as they read a real one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from nurture.scoring.ledger import decayed
from nurture.scoring.synthetic import ZONE, SyntheticHistory, synthetic_model
from nurture.store.schema import events, leads, score_ledger, stage_changes

CHUNK = 1_000


def load_history(conn: Connection, history: SyntheticHistory) -> list[int]:
    """Insert the history's leads with everything that happened to them; returns their ids."""
    model = synthetic_model()
    half_life = model.decay.half_life if model.decay else None
    ids: list[int] = []
    for start in range(0, len(history.leads), CHUNK):
        chunk = history.leads[start : start + CHUNK]
        rows: list[dict[str, Any]] = []
        for lead in chunk:
            fit = sum(e.points for e in lead.ledger if e.kind == "fit")
            behaviour = sum(
                decayed(e.points, e.at, history.now, half_life) for e in lead.ledger if e.kind != "fit"
            )
            rows.append(
                {
                    "email": lead.email, "email_domain": lead.email_domain, "first_name": lead.first_name,
                    "company": lead.company, "job_title": lead.job_title,
                    "company_size": lead.company_size or None, "country": lead.country, "timezone": ZONE.key,
                    "lifecycle_stage": lead.stage, "attributes": {}, "fit_score": fit,
                    "behavior_score": behaviour, "behavior_scored_at": history.now, "score": fit + behaviour,
                    "created_at": lead.created_at, "updated_at": history.now,
                }
            )  # fmt: skip
        lead_ids = [
            int(i)
            for i in conn.scalars(leads.insert().returning(leads.c.id, sort_by_parameter_order=True), rows)
        ]
        ids += lead_ids
        event_rows: list[dict[str, Any]] = []
        owners: list[tuple[int, int]] = []  # (lead index in chunk, event index)
        for n, (lead_id, lead) in enumerate(zip(lead_ids, chunk, strict=True)):
            for k, event in enumerate(lead.events):
                event_rows.append(
                    {
                        "lead_id": lead_id, "type": event.type, "occurred_at": event.at,
                        "received_at": event.at, "url": event.url, "properties": {},
                        "idempotency_key": f"synthetic:{lead.email}:{k}",
                    }
                )  # fmt: skip
                owners.append((n, k))
        event_ids: dict[tuple[int, int], int] = {}
        if event_rows:
            stored = conn.scalars(
                events.insert().returning(events.c.id, sort_by_parameter_order=True), event_rows
            )
            event_ids = dict(zip(owners, (int(i) for i in stored), strict=True))
        ledger_rows = [
            {
                "lead_id": lead_id, "points": e.points, "kind": e.kind, "rule": e.rule, "reason": e.reason,
                "event_id": None if e.event is None else event_ids[(n, e.event)], "at": e.at,
            }
            for n, (lead_id, lead) in enumerate(zip(lead_ids, chunk, strict=True))
            for e in lead.ledger
        ]  # fmt: skip
        if ledger_rows:
            conn.execute(score_ledger.insert(), ledger_rows)
        moves = [
            {"lead_id": lead_id, "from_stage": m.from_stage, "to_stage": m.to_stage, "at": m.at,
             "reason": m.reason, "actor": m.actor}
            for lead_id, lead in zip(lead_ids, chunk, strict=True)
            for m in lead.stages
        ]  # fmt: skip
        if moves:
            conn.execute(stage_changes.insert(), moves)
    return ids
