"""live leads: leads' external ids, and consent proofs kept after erasure

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import nurture.store.types

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('consent_proofs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('email_hash', sa.String(length=64), nullable=False),
    sa.Column('topic', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('at', nurture.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('text_version', sa.String(length=100), nullable=True),
    sa.Column('ip', sa.String(length=45), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_proofs'))
    )
    with op.batch_alter_table('consent_proofs', schema=None) as batch_op:
        batch_op.create_index('ix_consent_proofs_email_hash', ['email_hash', 'at'], unique=False)
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('external_id', sa.String(length=200), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_leads_external_id'), ['external_id'])


def downgrade() -> None:
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_leads_external_id'), type_='unique')
        batch_op.drop_column('external_id')
    with op.batch_alter_table('consent_proofs', schema=None) as batch_op:
        batch_op.drop_index('ix_consent_proofs_email_hash')
    op.drop_table('consent_proofs')
