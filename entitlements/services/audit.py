"""Write append-only audit records beside the change they describe."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ..models import AuditEvent


@dataclass(frozen=True)
class Actor:
    """Who acts, and the request it came through (for the audit trail)."""

    name: str
    request_id: str | None = None


def record(
    session: Session,
    actor: Actor,
    *,
    action: str,
    subject_type: str,
    subject_id: str,
    account_id: str | None,
    now: datetime,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> AuditEvent:
    """Add an audit record to the session's transaction."""
    event = AuditEvent(
        at=now,
        actor=actor.name,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        account_id=account_id,
        before=before,
        after=after,
        reason=reason,
        request_id=actor.request_id,
    )
    session.add(event)
    return event
