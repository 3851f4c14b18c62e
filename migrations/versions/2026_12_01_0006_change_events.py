"""Change events to site services: endpoints, events, deliveries; accounts get not_before.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
# The claim's partial indexes cover only the deliveries still to send.
UNSENT = "status IN ('pending', 'sending')"


def upgrade() -> None:
    # Nullable, no default: adding it rewrites no rows on PostgreSQL; NULL means never revoked.
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('not_before', sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f('ix_accounts_not_before'), ['not_before'], unique=False)
    op.create_table('webhook_endpoints',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('event_types', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('secret_encrypted', sa.Text(), nullable=False),
    sa.Column('previous_secret_encrypted', sa.Text(), nullable=True),
    sa.Column('previous_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=255), nullable=False),
    sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_endpoints'))
    )
    op.create_table('change_events',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_change_events')),
    sa.UniqueConstraint('account_id', 'sequence', name=op.f('uq_change_events_account_id_sequence'))
    )
    with op.batch_alter_table('change_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_change_events_created_at'), ['created_at'], unique=False)
    op.create_table('event_deliveries',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('event_id', BIG_ID, nullable=False),
    sa.Column('endpoint_id', BIG_ID, nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('retry_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoints.id'], name=op.f('fk_event_deliveries_endpoint_id_webhook_endpoints')),
    sa.ForeignKeyConstraint(['event_id'], ['change_events.id'], name=op.f('fk_event_deliveries_event_id_change_events')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_deliveries')),
    sa.UniqueConstraint('event_id', 'endpoint_id', name=op.f('uq_event_deliveries_event_id_endpoint_id'))
    )
    with op.batch_alter_table('event_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_event_deliveries_due', ['next_attempt_at', 'id'], unique=False, postgresql_where=sa.text(UNSENT), sqlite_where=sa.text(UNSENT))
        batch_op.create_index('ix_event_deliveries_unsent', ['endpoint_id', 'account_id', 'sequence'], unique=False, postgresql_where=sa.text(UNSENT), sqlite_where=sa.text(UNSENT))


def downgrade() -> None:
    with op.batch_alter_table('event_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_event_deliveries_unsent')
        batch_op.drop_index('ix_event_deliveries_due')
    op.drop_table('event_deliveries')
    with op.batch_alter_table('change_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_change_events_created_at'))
    op.drop_table('change_events')
    op.drop_table('webhook_endpoints')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_accounts_not_before'))
        batch_op.drop_column('not_before')
