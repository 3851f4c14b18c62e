"""Audit records are append-only: the database refuses UPDATE and DELETE on audit_events.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

Row triggers on both engines. TRUNCATE (PostgreSQL) and DROP TABLE (SQLite) fire no row
triggers, so tests can still empty the table and downgrades can still drop it. A later SQLite
batch migration that rebuilds audit_events must recreate these triggers.
"""

from __future__ import annotations

from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

MESSAGE = 'audit_events is append-only'

POSTGRESQL_UP = (
    f"""
    CREATE FUNCTION audit_events_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'insufficient_privilege';
    END;
    $$
    """,
    """
    CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()
    """,
)
POSTGRESQL_DOWN = (
    'DROP TRIGGER audit_events_append_only ON audit_events',
    'DROP FUNCTION audit_events_append_only()',
)
SQLITE_UP = tuple(
    f"""
    CREATE TRIGGER audit_events_no_{verb.lower()}
    BEFORE {verb} ON audit_events
    BEGIN
        SELECT RAISE(ABORT, '{MESSAGE}');
    END
    """
    for verb in ('UPDATE', 'DELETE')
)
SQLITE_DOWN = (
    'DROP TRIGGER audit_events_no_update',
    'DROP TRIGGER audit_events_no_delete',
)


def _statements(up: bool) -> tuple[str, ...]:
    dialect = op.get_bind().dialect.name
    if dialect == 'postgresql':
        return POSTGRESQL_UP if up else POSTGRESQL_DOWN
    if dialect == 'sqlite':
        return SQLITE_UP if up else SQLITE_DOWN
    raise NotImplementedError(f'no append-only triggers for {dialect}')


def upgrade() -> None:
    for statement in _statements(up=True):
        op.execute(statement)


def downgrade() -> None:
    for statement in _statements(up=False):
        op.execute(statement)
