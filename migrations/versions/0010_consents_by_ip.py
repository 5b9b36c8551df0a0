"""consents by ip: a double opt-in post counts the confirmations asked from its IP address from an index

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
    # Plain create_index, not a batch: on SQLite a batch would copy the whole consents table.
    op.create_index('ix_consents_ip_at', 'consents', ['ip', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_consents_ip_at', table_name='consents')
