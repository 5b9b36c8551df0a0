"""consents by ip, one index of a lead's events: a double opt-in post counts the confirmations
asked from its IP address from an index; ix_events_lead_touches (0009) begins with lead_id and
occurred_at, so ix_events_lead_occurred is dropped, one index less to write per event

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain create_index/drop_index, not a batch: on SQLite a batch would copy the whole table.
    op.create_index('ix_consents_ip_at', 'consents', ['ip', 'at'], unique=False)
    op.drop_index('ix_events_lead_occurred', table_name='events')


def downgrade() -> None:
    op.create_index('ix_events_lead_occurred', 'events', ['lead_id', 'occurred_at'], unique=False)
    op.drop_index('ix_consents_ip_at', table_name='consents')
