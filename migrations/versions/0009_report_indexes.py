"""report indexes: the report reads events per campaign step and each lead's touches from indexes alone

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain create_index, not a batch: on SQLite a batch could copy the whole events table.
    op.create_index(
        'ix_events_step_figures',
        'events',
        ['campaign_key', 'step_id', 'type', 'machine_reason', 'message_id', 'occurred_at'],
        unique=False,
    )
    op.create_index(
        'ix_events_lead_touches',
        'events',
        ['lead_id', 'occurred_at', 'id', 'machine_reason', 'type', 'campaign_key', 'step_id'],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index('ix_events_lead_touches', table_name='events')
    op.drop_index('ix_events_step_figures', table_name='events')
