"""deal amounts on stage changes

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('stage_changes') as batch:
        batch.add_column(sa.Column('amount', sa.Float(), nullable=True))
        batch.add_column(sa.Column('currency', sa.String(length=3), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('stage_changes') as batch:
        batch.drop_column('currency')
        batch.drop_column('amount')
