"""Billing: Stripe events, checkout attempts and used subscriber hand-offs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('stripe_events',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=128), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('object_id', sa.String(length=255), nullable=True),
    sa.Column('stripe_created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stripe_events'))
    )
    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stripe_events_status_received_at'), ['status', 'received_at'], unique=False)

    op.create_table('used_handoffs',
    sa.Column('jti', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('jti', name=op.f('pk_used_handoffs'))
    )
    with op.batch_alter_table('used_handoffs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_used_handoffs_expires_at'), ['expires_at'], unique=False)

    op.create_table('checkout_attempts',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('lookup_key', sa.String(length=64), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_checkout_attempts_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checkout_attempts'))
    )
    with op.batch_alter_table('checkout_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_checkout_attempts_account_id_lookup_key'), ['account_id', 'lookup_key'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('checkout_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_checkout_attempts_account_id_lookup_key'))

    op.drop_table('checkout_attempts')
    with op.batch_alter_table('used_handoffs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_used_handoffs_expires_at'))

    op.drop_table('used_handoffs')
    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stripe_events_status_received_at'))

    op.drop_table('stripe_events')
