"""experiments: the variant of each message, and variants promoted to winner

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import nurture.store.types

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('variant_winners',
    sa.Column('campaign_key', sa.String(length=100), nullable=False),
    sa.Column('step_id', sa.String(length=100), nullable=False),
    sa.Column('variant', sa.String(length=100), nullable=False),
    sa.Column('promoted_at', nurture.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('campaign_key', 'step_id', name=op.f('pk_variant_winners'))
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('variant', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('variant_source', sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('variant_source')
        batch_op.drop_column('variant')
    op.drop_table('variant_winners')
