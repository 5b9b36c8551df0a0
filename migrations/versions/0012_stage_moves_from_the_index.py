"""stage moves from the index: ix_stage_changes_lead_moves holds each lead's stage changes in time
order with the stages moved from and to, so the report's journeys, its latest-conversion lookups and
the score's backtest read the index alone (through the (lead_id, at) index each change cost a
lookup of its row: on a history larger than memory, a read from disk); it replaces
ix_stage_changes_lead_at, whose (lead_id, at) it begins with

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain create_index/drop_index, not a batch: on SQLite a batch would copy the whole table.
    op.create_index(
        'ix_stage_changes_lead_moves',
        'stage_changes',
        ['lead_id', 'at', 'id', 'from_stage', 'to_stage'],
        unique=False,
    )
    op.drop_index('ix_stage_changes_lead_at', table_name='stage_changes')


def downgrade() -> None:
    op.create_index('ix_stage_changes_lead_at', 'stage_changes', ['lead_id', 'at'], unique=False)
    op.drop_index('ix_stage_changes_lead_moves', table_name='stage_changes')
