"""Bans get a public message apart from the admins' note; sign-in throttles per address.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: existing bans show the neutral sentence, and adding the column
    # rewrites no rows on PostgreSQL.
    with op.batch_alter_table('bans', schema=None) as batch_op:
        batch_op.add_column(sa.Column('public_message', sa.Text(), nullable=True))
    op.create_table('sign_in_throttles',
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('signed_in_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_sign_in_throttles'))
    )
    with op.batch_alter_table('sign_in_throttles', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_sign_in_throttles_expires_at'), ['expires_at'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('sign_in_throttles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sign_in_throttles_expires_at'))
    op.drop_table('sign_in_throttles')
    with op.batch_alter_table('bans', schema=None) as batch_op:
        batch_op.drop_column('public_message')
