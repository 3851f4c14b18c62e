"""Change events: written in the same transaction as the change, one delivery per endpoint.

Every service that changes what an account may do (grants, bans, Stripe sync, the grandfather
import) calls record_change() before its caller commits, so the event and the change commit or
roll back together (the outbox the delivery workers read). Several changes of one account in
one transaction (a Stripe sync that also cancels a duplicate) become one event.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

from ..access import Access, Policy, resolve
from ..clock import to_rfc3339
from ..models import Account, ChangeEvent, EventDelivery, WebhookEndpoint
from ..vocabulary import EVENT_CHANGED, EVENT_SCHEDULED
from . import features_before as _before
from .account_facts import access_for, load_facts_many
from .accounts import ensure_account
from .check import access_json
from .revocation_time import hold_for_change, revoke_at_commit

CHANGED, SCHEDULED = EVENT_CHANGED, EVENT_SCHEDULED
# Where sessions carry the policy (defined beside the flush hook that also reads it).
POLICY_INFO = _before.POLICY_INFO
_PENDING = "entitlements.change_events"


@dataclass
class _Pending:
    """This transaction's event per account, merged into by later changes of the account."""

    event: ChangeEvent
    previous: frozenset[str]
    reasons: list[str] = field(default_factory=list)
    changed: set[str] = field(default_factory=set)


def policy_of(session: Session) -> Policy:
    """Return the policy the session's factory carries (create_app sets it)."""
    policy = session.info.get(POLICY_INFO)
    if not isinstance(policy, Policy):
        raise RuntimeError("this session carries no policy: make it with the app's session()")
    return policy


def _pending(session: Session) -> dict[str, _Pending]:
    transaction = session.get_transaction()
    kept = session.info.get(_PENDING)
    if kept is None or kept[0] is not transaction:
        kept = (transaction, {})
        session.info[_PENDING] = kept
    table: dict[str, _Pending] = kept[1]
    return table


def sign_event(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the Standard Webhooks `v1,<base64>` HMAC-SHA256 of `id.timestamp.body`."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def revocation_second(now: datetime) -> int:
    """Return the not_before for a change at `now`: tokens with an earlier `iat` are refused.

    `iat` is whole seconds, rounded down: every token issued before `now` has iat <= floor(now),
    so the next second refuses them all (and those issued in the rest of this second too).
    """
    return int(now.timestamp()) + 1


def _payload(
    event_type: str, account_id: str, not_before: int | None, access: Access, *,
    now: datetime, changed: Iterable[str], reasons: Sequence[str], sequence: int,
) -> dict[str, Any]:
    return {
        "type": event_type,
        "timestamp": to_rfc3339(now),
        "data": {
            "account_id": account_id,
            "entitlements": access_json(account_id, access),
            "changed": sorted(set(changed)),
            "reason": ", ".join(dict.fromkeys(reasons)),
            "not_before": not_before,
            "sequence": sequence,
        },
    }


def _endpoints(session: Session, event_type: str) -> list[WebhookEndpoint]:
    rows = session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.status == "active"))
    return [row for row in rows if event_type in row.event_types.split()]


def _last(session: Session, account_id: str) -> tuple[int, frozenset[str]]:
    last = session.scalar(
        select(ChangeEvent)
        .where(ChangeEvent.account_id == account_id)
        .order_by(ChangeEvent.sequence.desc())
        .limit(1)
    )
    if last is None:
        return 0, frozenset()
    features = last.payload.get("data", {}).get("entitlements", {}).get("features", [])
    return last.sequence, frozenset(features)


def _add_event(
    session: Session, account: Account, access: Access, *, event_type: str, now: datetime,
    sequence: int, changed: set[str], reasons: list[str],
    endpoints: Sequence[WebhookEndpoint],
) -> ChangeEvent:
    event = ChangeEvent(
        account_id=account.id,
        sequence=sequence,
        type=event_type,
        payload=_payload(event_type, account.id, account.not_before, access, now=now,
                         changed=changed, reasons=reasons, sequence=sequence),
        created_at=now,
    )
    session.add(event)
    # Flush for the event's id, which each delivery row names.
    session.flush()
    for endpoint in endpoints:
        session.add(
            EventDelivery(
                event_id=event.id, endpoint_id=endpoint.id, account_id=account.id,
                sequence=sequence, status="pending", attempts=0, next_attempt_at=now,
                created_at=now,
            )
        )
    return event


def record_change(
    session: Session,
    account_id: str,
    *,
    reason: str,
    now: datetime,
    features: Iterable[str] = (),
    revoke: bool = False,
    event_type: str = CHANGED,
) -> ChangeEvent:
    """Write the account's change event (and its deliveries) into the session's transaction.

    `features` names what the change concerns; `revoke` (a ban, refund, dispute) moves the
    account's not_before so tokens issued before the commit are refused. Losing any feature
    held before this transaction (or at the previous event) revokes too.
    """
    policy = policy_of(session)
    ensure_account(session, account_id, now=now)
    # The row lock orders one account's changes: the later transaction reads the earlier's
    # result, and sequences never collide. FOR NO KEY UPDATE (key_share), not FOR UPDATE: the
    # change's own grant or ban row already holds FOR KEY SHARE on the account through its
    # foreign key, and two such transactions asking FOR UPDATE would deadlock.
    account = session.scalar(
        select(Account).where(Account.id == account_id).with_for_update(key_share=True)
    )
    assert account is not None
    hold_for_change(session, account_id)
    access = access_for(session, account_id, now=now, policy=policy)
    pending = _pending(session)
    entry = pending.get(account_id)
    if entry is None or entry.event.type != event_type:
        sequence, previous = _last(session, account_id)
        entry = None
    else:
        sequence, previous = entry.event.sequence - 1, entry.previous
    held = frozenset(access.features)
    # Read before this transaction's first write of the account's facts: it also covers
    # accounts without events (older than change events). The previous event's features too:
    # revoking once more than needed is harmless, once less is not.
    before = _before.features_before(session, account_id)
    revoking = revoke or not previous <= held or (before is not None and not before <= held)
    if revoking:
        account.not_before = max(account.not_before or 0, revocation_second(now))
    changed = set(features) | (previous ^ held) | ((before ^ held) if before is not None else set())
    if entry is not None:
        entry.reasons.append(reason)
        entry.changed |= changed
        entry.event.payload = _payload(
            event_type, account.id, account.not_before, access, now=now, changed=entry.changed,
            reasons=entry.reasons, sequence=entry.event.sequence,
        )
        if revoking:
            revoke_at_commit(session, account.id, entry.event)
        return entry.event
    event = _add_event(
        session, account, access, event_type=event_type, now=now, sequence=sequence + 1,
        changed=changed, reasons=[reason], endpoints=_endpoints(session, event_type),
    )
    pending[account_id] = _Pending(event, previous, [reason], changed)
    if revoking:
        revoke_at_commit(session, account.id, event)
    return event


def record_changes(
    session: Session, account_ids: Sequence[str], *, reason: str, now: datetime,
    features: Iterable[str] = (), event_type: str = CHANGED,
) -> int:
    """Write one event per account for a bulk change (the grandfather import); return how many.

    Facts, sequences and endpoints are read once per batch, not per account; bulk changes only
    ever add access or announce a change (no revocation).
    """
    if not account_ids:
        return 0
    policy = policy_of(session)
    endpoints = _endpoints(session, event_type)
    hint = set(features)
    # Locked in id order (no deadlock between two bulk changes) so that a grant or ban of one
    # of these accounts meanwhile waits, and sequences never collide.
    locked = select(Account.id, Account.not_before).where(Account.id.in_(account_ids))
    not_before: dict[str, int | None] = {
        account_id: second
        for account_id, second in session.execute(
            locked.order_by(Account.id).with_for_update(key_share=True)
        )
    }
    facts = load_facts_many(session, account_ids, policy)
    sequences: dict[str, int] = {
        account_id: int(last)
        for account_id, last in session.execute(
            select(ChangeEvent.account_id, func.max(ChangeEvent.sequence))
            .where(ChangeEvent.account_id.in_(account_ids))
            .group_by(ChangeEvent.account_id)
        )
    }
    rows = []
    for account_id in account_ids:
        one = facts[account_id]
        access = resolve(one.subscriptions, one.grants, one.bans, now=now, policy=policy)
        sequence = sequences.get(account_id, 0) + 1
        payload = _payload(event_type, account_id, not_before[account_id], access, now=now,
                           changed=hint, reasons=[reason], sequence=sequence)
        rows.append({"account_id": account_id, "sequence": sequence, "type": event_type,
                     "payload": payload, "created_at": now})
    # One multi-row INSERT ... RETURNING per batch: a flush per event would cost a round trip.
    table = cast(Table, ChangeEvent.__table__)
    created = session.execute(
        insert(table).returning(table.c.id, table.c.account_id, table.c.sequence), rows
    ).all()
    if endpoints:
        session.execute(
            insert(cast(Table, EventDelivery.__table__)),
            [
                {"event_id": event_id, "endpoint_id": endpoint.id, "account_id": account_id,
                 "sequence": sequence, "status": "pending", "attempts": 0,
                 "next_attempt_at": now, "created_at": now}
                for event_id, account_id, sequence in created
                for endpoint in endpoints
            ],
        )
    return len(account_ids)
