"""Grants: add, extend and revoke one feature for one account. Stripe never touches them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..catalog import FEATURES
from ..clock import to_rfc3339
from ..errors import ConflictError, InvalidError, NotFoundError, UnprocessableError
from ..models import Grant
from ..vocabulary import GRANT_KINDS
from .accounts import ensure_account, validate_account_id
from .audit import Actor, record
from .change_events import record_change

MAX_REASON = 2000
# The white space a reason may not consist of; the OpenAPI pattern names the same characters.
ASCII_SPACE = " \t\n\r\f\v"


def grant_json(grant: Grant) -> dict[str, Any]:
    """Return the JSON form of a grant (also its audit snapshot)."""
    return {
        "id": grant.id,
        "account_id": grant.account_id,
        "feature": grant.feature,
        "kind": grant.kind,
        "starts_at": to_rfc3339(grant.starts_at),
        "ends_at": to_rfc3339(grant.ends_at),
        "ends_by_policy": grant.ends_by_policy,
        "reason": grant.reason,
        "actor": grant.actor,
        "created_at": to_rfc3339(grant.created_at),
        "revoked_at": to_rfc3339(grant.revoked_at),
        "revoked_by": grant.revoked_by,
        "revoke_reason": grant.revoke_reason,
    }


def check_reason(reason: str | None) -> str:
    """Return a stripped reason, or raise if it is missing or longer than 2000 characters."""
    # Measured before stripping and stripped of ASCII white space only, exactly as the OpenAPI
    # document's maxLength and pattern state it.
    if len(reason or "") > MAX_REASON:
        raise InvalidError(f"reason must be at most {MAX_REASON} characters", field="reason")
    text = (reason or "").strip(ASCII_SPACE)
    if not text:
        raise InvalidError("a reason is required", field="reason")
    return text


def check_feature(feature: str) -> str:
    """Return the feature if it is known, else raise InvalidError listing the known ones."""
    if feature not in FEATURES:
        raise InvalidError(f"feature must be one of {', '.join(FEATURES)}", field="feature")
    return feature


def _follows_policy(
    kind: str, ends_at: datetime | None, *, policy_end: datetime | None, now: datetime
) -> bool:
    """Return whether a new grant ends with the grandfather period; refuse it once that ended.

    A past commenter's grant without its own end lasts as long as every past commenter's.
    """
    if kind != "grandfather" or ends_at is not None:
        return False
    if policy_end is not None and policy_end <= now:
        raise UnprocessableError(
            f"the grandfather period ended at {to_rfc3339(policy_end)}; "
            "give this grant its own end",
            field="ends_at",
        )
    return True


def check_period_open(kind: str, *, policy_end: datetime | None, now: datetime) -> None:
    """Refuse a grandfather grant without an end once the period it would follow has ended."""
    _follows_policy(kind, None, policy_end=policy_end, now=now)


def add_grant(
    session: Session,
    account_id: str,
    *,
    feature: str,
    kind: str,
    reason: str | None,
    actor: Actor,
    now: datetime,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    end_given: bool = False,
    policy_end: datetime | None,
) -> Grant:
    """Grant one feature to an account, optionally until `ends_at`.

    A grandfather grant given no end (no `ends_at`, and `end_given` false: an explicit "no end"
    sets it) follows `policy_end`, the grandfather period's end; once that passed it is refused.
    """
    # Decided before anything else is checked: a closed period is the first thing to fix.
    ends_by_policy = not end_given and _follows_policy(
        kind, ends_at, policy_end=policy_end, now=now
    )
    check_feature(feature)
    if kind not in GRANT_KINDS:
        raise InvalidError(f"kind must be one of {', '.join(GRANT_KINDS)}", field="kind")
    if kind == "grandfather" and feature != "comment":
        # The grandfather policy is about past commenters; other features are comp grants.
        raise InvalidError("a grandfather grant can only be of comment", field="feature")
    text = check_reason(reason)
    start = starts_at or now
    if ends_at is not None and ends_at <= start:
        raise UnprocessableError("the end must be after the start", field="ends_at")
    ensure_account(session, account_id, now=now)
    grant = Grant(
        account_id=account_id,
        feature=feature,
        kind=kind,
        starts_at=start,
        ends_at=ends_at,
        ends_by_policy=ends_by_policy,
        reason=text,
        actor=actor.name,
        created_at=now,
    )
    session.add(grant)
    # Flush for the generated id, which the audit record names.
    session.flush()
    record(
        session,
        actor,
        action="grant.add",
        subject_type="grant",
        subject_id=str(grant.id),
        account_id=account_id,
        now=now,
        after=grant_json(grant),
        reason=text,
    )
    record_change(session, account_id, reason="grant.add", now=now, features=[feature])
    return grant


def get_grant(session: Session, grant_id: int) -> Grant:
    """Return a grant by id, locked for update, or raise NotFoundError."""
    grant = session.get(Grant, grant_id, with_for_update=True)
    if grant is None:
        raise NotFoundError(f"no grant with id {grant_id}")
    return grant


def extend_grant(
    session: Session,
    grant_id: int,
    *,
    ends_at: datetime | None,
    reason: str | None,
    actor: Actor,
    now: datetime,
) -> Grant:
    """Move a grant's end (None: no end); an admin's end no longer follows the policy."""
    grant = get_grant(session, grant_id)
    text = check_reason(reason)
    if grant.revoked_at is not None:
        raise ConflictError(f"grant {grant_id} was revoked; add a new grant instead")
    if ends_at is not None and ends_at <= grant.starts_at:
        raise UnprocessableError("the end must be after the start", field="ends_at")
    if ends_at is not None and ends_at < now:
        # Answers already given stay true: to end a grant now, set the end to now or revoke.
        raise UnprocessableError(
            "the new end must not be in the past; revoke to end it now", field="ends_at"
        )
    before = grant_json(grant)
    grant.ends_at = ends_at
    grant.ends_by_policy = False
    record(
        session,
        actor,
        action="grant.extend",
        subject_type="grant",
        subject_id=str(grant.id),
        account_id=grant.account_id,
        now=now,
        before=before,
        after=grant_json(grant),
        reason=text,
    )
    record_change(
        session, grant.account_id, reason="grant.extend", now=now, features=[grant.feature]
    )
    return grant


def list_grants(session: Session, account_id: str) -> list[Grant]:
    """Return an account's grants, oldest first (revoked and ended ones included)."""
    validate_account_id(account_id)
    return list(
        session.scalars(select(Grant).where(Grant.account_id == account_id).order_by(Grant.id))
    )


def revoke_grant(
    session: Session, grant_id: int, *, reason: str | None, actor: Actor, now: datetime
) -> Grant:
    """Revoke a grant at `now`; revoking twice is a conflict."""
    grant = get_grant(session, grant_id)
    text = check_reason(reason)
    if grant.revoked_at is not None:
        raise ConflictError(f"grant {grant_id} is already revoked")
    before = grant_json(grant)
    grant.revoked_at, grant.revoked_by, grant.revoke_reason = now, actor.name, text
    record(
        session,
        actor,
        action="grant.revoke",
        subject_type="grant",
        subject_id=str(grant.id),
        account_id=grant.account_id,
        now=now,
        before=before,
        after=grant_json(grant),
        reason=text,
    )
    # Withdrawn access: tokens issued before now are refused by the SDKs.
    record_change(
        session, grant.account_id, reason="grant.revoke", now=now, features=[grant.feature],
        revoke=True,
    )
    return grant
