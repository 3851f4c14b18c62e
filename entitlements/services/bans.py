"""Bans and timed suspensions: withhold one feature whatever its source."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..clock import to_rfc3339
from ..errors import ConflictError, InvalidError, NotFoundError, UnprocessableError
from ..models import Account, Ban
from ..models.ban import MAX_PUBLIC_MESSAGE
from .account_facts import public_ban_message
from .accounts import ensure_account, validate_account_id
from .audit import Actor, record
from .change_events import record_change
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
        "public_message": public_ban_message(ban.feature, ban.ends_at, ban.public_message),
        "actor": ban.actor,
        "created_at": to_rfc3339(ban.created_at),
        "lifted_at": to_rfc3339(ban.lifted_at),
        "lifted_by": ban.lifted_by,
        "lift_reason": ban.lift_reason,
    }


def check_public_message(message: str | None) -> str | None:
    """Return a stripped public message (None if blank: the default), or raise if too long."""
    text = message or ""
    # Measured before stripping, exactly as the OpenAPI document's maxLength counts.
    if len(text) > MAX_PUBLIC_MESSAGE:
        raise InvalidError(
            f"public_message must be at most {MAX_PUBLIC_MESSAGE} characters",
            field="public_message",
        )
    return text.strip() or None


def add_ban(
    session: Session,
    account_id: str,
    *,
    feature: str,
    reason: str | None,
    actor: Actor,
    now: datetime,
    ends_at: datetime | None = None,
    public_message: str | None = None,
) -> Ban:
    """Ban an account from a feature, permanently or until `ends_at`."""
    if feature not in BANNABLE_FEATURES:
        raise InvalidError(f"only {', '.join(BANNABLE_FEATURES)} can be banned", field="feature")
    text = check_reason(reason)
    shown = check_public_message(public_message)
    if ends_at is not None and ends_at <= now:
        raise UnprocessableError("the end of a ban must be in the future", field="ends_at")
    account = ensure_account(session, account_id, now=now)
    # Withdrawing access makes earlier answers stale at once.
    account.token_version += 1
    ban = Ban(
        account_id=account_id,
        feature=feature,
        starts_at=now,
        ends_at=ends_at,
        reason=text,
        public_message=shown,
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
    # Tokens issued before the ban are refused by the SDKs from the next second.
    record_change(
        session, account_id, reason="ban.add", now=now, features=[feature], revoke=True
    )
    return ban


def get_ban(session: Session, ban_id: int) -> Ban:
    """Return a ban by id, locked for update, or raise NotFoundError."""
    ban = session.get(Ban, ban_id, with_for_update=True)
    if ban is None:
        raise NotFoundError(f"no ban with id {ban_id}")
    return ban


def list_bans(session: Session, account_id: str) -> list[Ban]:
    """Return an account's bans, oldest first (lifted and ended ones included)."""
    validate_account_id(account_id)
    return list(session.scalars(select(Ban).where(Ban.account_id == account_id).order_by(Ban.id)))


def _check_in_force(ban: Ban, now: datetime) -> None:
    if ban.lifted_at is not None:
        raise ConflictError(f"ban {ban.id} was already lifted")
    if ban.ends_at is not None and ban.ends_at <= now:
        raise ConflictError(f"ban {ban.id} already ended; add a new ban instead")


def extend_ban(
    session: Session,
    ban_id: int,
    *,
    ends_at: datetime | None,
    reason: str | None,
    actor: Actor,
    now: datetime,
) -> Ban:
    """Move the end of a ban in force (None: permanent); to end it now, lift it."""
    ban = get_ban(session, ban_id)
    text = check_reason(reason)
    _check_in_force(ban, now)
    if ends_at is not None and ends_at <= now:
        raise UnprocessableError("the new end must be in the future; lift the ban to end it now",
                           field="ends_at")
    before = ban_json(ban)
    ban.ends_at = ends_at
    account = session.get(Account, ban.account_id, with_for_update=True)
    if account is not None:
        # The restriction changed: answers cached until the old end are stale.
        account.token_version += 1
    record(
        session,
        actor,
        action="ban.extend",
        subject_type="ban",
        subject_id=str(ban.id),
        account_id=ban.account_id,
        now=now,
        before=before,
        after=ban_json(ban),
        reason=text,
    )
    record_change(session, ban.account_id, reason="ban.extend", now=now, features=[ban.feature])
    return ban


def lift_ban(
    session: Session, ban_id: int, *, reason: str | None, actor: Actor, now: datetime
) -> Ban:
    """Lift a ban early; lifting a lifted or ended ban is a conflict."""
    ban = get_ban(session, ban_id)
    text = check_reason(reason)
    _check_in_force(ban, now)
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
    record_change(session, ban.account_id, reason="ban.lift", now=now, features=[ban.feature])
    return ban
