"""Announce grandfather periods about to end: an `entitlements.scheduled` event per account.

Access ending is derived at read time (no sweep flips anything); this only tells site services
ahead of time, so they can show the reader a notice. Run from cron (`webhooks scan-expiring`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from ..models import ChangeEvent, Grant
from .change_events import SCHEDULED, policy_of, record_changes

BATCH = 1000
REASON = "grandfather.ending"


def announce_grandfather_endings(session: Session, *, now: datetime, days: int) -> int:
    """Write one scheduled event per account whose grandfather grant ends within `days`,
    unless one was written in the last `days`; return how many were written."""
    horizon = now + timedelta(days=days)
    until = policy_of(session).grandfather_until
    ending = and_(Grant.ends_by_policy.is_(False), Grant.ends_at > now, Grant.ends_at <= horizon)
    if until is not None and now < until <= horizon:
        ending = or_(ending, Grant.ends_by_policy.is_(True))
    announced = exists().where(
        ChangeEvent.account_id == Grant.account_id,
        ChangeEvent.type == SCHEDULED,
        ChangeEvent.created_at > now - timedelta(days=days),
    )
    account_ids = list(
        session.scalars(
            select(Grant.account_id)
            .where(Grant.kind == "grandfather", Grant.revoked_at.is_(None), ending, ~announced)
            .distinct()
            .order_by(Grant.account_id)
        )
    )
    for start in range(0, len(account_ids), BATCH):
        record_changes(
            session, account_ids[start : start + BATCH], reason=REASON, now=now,
            features=["comment"], event_type=SCHEDULED,
        )
    return len(account_ids)
