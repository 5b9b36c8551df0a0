"""The ``nurture_mqls`` gauge counts leads, as its help says, not moves to MQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from nurture.daemon.jobs import cluster_figures
from nurture.store.schema import leads, stage_changes

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_a_lead_that_becomes_an_mql_twice_counts_once(store: Engine) -> None:
    with store.begin() as conn:
        ids = [
            conn.execute(
                leads.insert().values(email=f"{name}@example.com", email_domain="example.com", created_at=T0,
                                      updated_at=T0, attributes={})
            ).inserted_primary_key[0]
            for name in ("ada", "bea")
        ]  # fmt: skip
        moves = [
            (ids[0], "lead", "mql"), (ids[0], "mql", "recycled"), (ids[0], "recycled", "mql"),
            (ids[1], "lead", "mql"),
        ]  # fmt: skip
        for hour, (lead_id, old, new) in enumerate(moves):
            conn.execute(
                stage_changes.insert().values(
                    lead_id=lead_id, from_stage=old, to_stage=new, at=T0 + timedelta(hours=hour),
                    reason="test", actor="test",
                )
            )  # fmt: skip
    mqls, due = cluster_figures(store, T0 + timedelta(days=1))
    assert (mqls, due) == (2, 0)
