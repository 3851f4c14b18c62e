"""Bans and timed suspensions: withhold one feature whatever its source."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ..clock import to_rfc3339
from ..errors import ConflictError, InvalidError, NotFoundError
from ..models import Ban
from .accounts import ensure_account
from .audit import Actor, record
from .grants import check_reason

# Only commenting can be withheld for now; the ad server and archive are never banned.
BANNABLE_FEATURES = ("comment",)


def ban_json(ban: Ban) -> dict[str, Any]:
    """Return the JSON form of a ban (also its audit snapshot)."""
    return {
        "id": ban.id,
        "account_id": ban.account_id,
        "feature": ban.feature,
        "starts_at": to_rfc3339(ban.starts_at),
        "ends_at": to_rfc3339(ban.ends_at),
        "reason": ban.reason,
        "actor": ban.actor,
        "lifted_at": to_rfc3339(ban.lifted_at),
    }


def add_ban(
    session: Session,
    account_id: str,
    *,
    feature: str,
    reason: str | None,
    actor: Actor,
    now: datetime,
    ends_at: datetime | None = None,
) -> Ban:
    """Ban an account from a feature, permanently or until `ends_at`."""
    if feature not in BANNABLE_FEATURES:
        raise InvalidError(f"only {', '.join(BANNABLE_FEATURES)} can be banned", field="feature")
    text = check_reason(reason)
    if ends_at is not None and ends_at <= now:
        raise InvalidError("the end of a ban must be in the future", field="ends_at")
    account = ensure_account(session, account_id, now=now)
    # Withdrawing access makes earlier answers stale at once.
    account.token_version += 1
    ban = Ban(
        account_id=account_id,
        feature=feature,
        starts_at=now,
        ends_at=ends_at,
        reason=text,
        actor=actor.name,
        created_at=now,
    )
    session.add(ban)
    # Flush for the generated id, which the audit record names.
    session.flush()
    record(
        session,
        actor,
        action="ban.add",
        subject_type="ban",
        subject_id=str(ban.id),
        account_id=account_id,
        now=now,
        after=ban_json(ban),
        reason=text,
    )
    return ban


def lift_ban(
    session: Session, ban_id: int, *, reason: str | None, actor: Actor, now: datetime
) -> Ban:
    """Lift a ban early; lifting a lifted or ended ban is a conflict."""
    ban = session.get(Ban, ban_id, with_for_update=True)
    if ban is None:
        raise NotFoundError(f"no ban with id {ban_id}")
    text = check_reason(reason)
    if ban.lifted_at is not None:
        raise ConflictError(f"ban {ban_id} was already lifted")
    if ban.ends_at is not None and ban.ends_at <= now:
        raise ConflictError(f"ban {ban_id} already ended")
    before = ban_json(ban)
    ban.lifted_at, ban.lifted_by, ban.lift_reason = now, actor.name, text
    record(
        session,
        actor,
        action="ban.lift",
        subject_type="ban",
        subject_id=str(ban.id),
        account_id=ban.account_id,
        now=now,
        before=before,
        after=ban_json(ban),
        reason=text,
    )
    return ban
