"""ledger lines from the index: ix_score_ledger_lead_lines holds each lead's lines in time order
with their kind, points and rule, so the rescore and the backtest, which read every line of every
lead, read the index alone; it replaces ix_score_ledger_lead_at, whose (lead_id, at) it begins with

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain create_index/drop_index, not a batch: on SQLite a batch would copy the whole ledger.
    op.create_index(
        'ix_score_ledger_lead_lines',
        'score_ledger',
        ['lead_id', 'at', 'id', 'kind', 'points', 'rule'],
        unique=False,
    )
    op.drop_index('ix_score_ledger_lead_at', table_name='score_ledger')


def downgrade() -> None:
    op.create_index('ix_score_ledger_lead_at', 'score_ledger', ['lead_id', 'at'], unique=False)
    op.drop_index('ix_score_ledger_lead_lines', table_name='score_ledger')
