"""predictive score: trained models and each lead's conversion probability

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import nurture.store.types
from sqlalchemy.dialects import postgresql

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('predictive_models',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('version', sa.String(length=40), nullable=False),
    sa.Column('trained_at', nurture.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('window_from', nurture.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('window_to', nurture.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('leads', sa.Integer(), nullable=False),
    sa.Column('positives', sa.Integer(), nullable=False),
    sa.Column('held_out_auc', sa.Float(), nullable=True),
    sa.Column('parameters', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_predictive_models')),
    sa.UniqueConstraint('version', name=op.f('uq_predictive_models_version'))
    )
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('conversion_probability', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_column('conversion_probability')
    op.drop_table('predictive_models')
