"""Read the audit trail: filtered, newest first, one page at a time (keyset on id)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..clock import to_rfc3339
from ..models import AuditEvent


@dataclass(frozen=True)
class AuditFilter:
    """Combinable filters of an audit query; None means any."""

    account_id: str | None = None
    actor: str | None = None
    action: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


def audit_json(event: AuditEvent) -> dict[str, Any]:
    """Return the JSON form of an audit record."""
    return {
        "id": event.id,
        "at": to_rfc3339(event.at),
        "actor": event.actor,
        "action": event.action,
        "subject_type": event.subject_type,
        "subject_id": event.subject_id,
        "account_id": event.account_id,
        "before": event.before,
        "after": event.after,
        "reason": event.reason,
        "request_id": event.request_id,
    }


def find_events(
    session: Session, where: AuditFilter, *, limit: int, before_id: int | None = None
) -> tuple[list[AuditEvent], int | None]:
    """Return one page of matching records, newest first, and the cursor of the next page."""
    # Ids grow with each insert, so "newest first" is descending id: a stable keyset even when
    # several records share one timestamp.
    statement = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit + 1)
    if where.account_id is not None:
        statement = statement.where(AuditEvent.account_id == where.account_id)
    if where.actor is not None:
        statement = statement.where(AuditEvent.actor == where.actor)
    if where.action is not None:
        statement = statement.where(AuditEvent.action == where.action)
    if where.since is not None:
        statement = statement.where(AuditEvent.at >= where.since)
    if where.until is not None:
        statement = statement.where(AuditEvent.at < where.until)
    if before_id is not None:
        statement = statement.where(AuditEvent.id < before_id)
    events = list(session.scalars(statement))
    if len(events) > limit:
        return events[:limit], events[limit - 1].id
    return events, None
