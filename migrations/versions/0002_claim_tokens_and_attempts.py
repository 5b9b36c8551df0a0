"""claim tokens and the bytes of messages whose verdict is not known

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claim_token', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('attempted_sender', sa.String(length=998), nullable=True))
        batch_op.add_column(sa.Column('attempted_data', sa.LargeBinary(), nullable=True))
        batch_op.create_index('ix_messages_unknown', ['id'], unique=False, sqlite_where=sa.text("status = 'unknown'"), postgresql_where=sa.text("status = 'unknown'"))


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_unknown', sqlite_where=sa.text("status = 'unknown'"), postgresql_where=sa.text("status = 'unknown'"))
        batch_op.drop_column('attempted_data')
        batch_op.drop_column('attempted_sender')
        batch_op.drop_column('claim_token')
