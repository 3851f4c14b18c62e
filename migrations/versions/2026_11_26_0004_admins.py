"""Admins: console accounts with argon2 hashes and lockout state; CSV uploads awaiting import.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('admins',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('password_hash', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('session_generation', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_admins')),
    sa.UniqueConstraint('email', name=op.f('uq_admins_email'))
    )
    op.create_table('admin_uploads',
    sa.Column('admin_id', BIG_ID, nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['admin_id'], ['admins.id'], name=op.f('fk_admin_uploads_admin_id_admins')),
    sa.PrimaryKeyConstraint('admin_id', 'sha256', name=op.f('pk_admin_uploads'))
    )
    with op.batch_alter_table('admin_uploads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_admin_uploads_created_at'), ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('admin_uploads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_admin_uploads_created_at'))

    op.drop_table('admin_uploads')
    op.drop_table('admins')
