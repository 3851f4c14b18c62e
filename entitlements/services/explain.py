"""Explain one account: each feature's sources and restrictions with their windows, and why.

The admin API serves this as JSON and the console renders it in plain words, so everything
here is plain data (dataclasses), computed from the same facts resolve() reads.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..access import Access, Policy, effective_end, in_force, resolve, subscription_window
from ..clock import to_rfc3339
from ..errors import NotFoundError
from ..models import Account, AuditEvent, Ban, Grant, Subscription
from .account_facts import ban_facts, grant_facts, public_ban_message, subscription_facts
from .accounts import validate_account_id

# Newest audit records shown in a timeline; the audit API pages through the rest.
TIMELINE_AUDIT_LIMIT = 200


@dataclass(frozen=True)
class SourceFact:
    """Something that can give a feature: a subscription or a grant, and its window."""

    kind: str  # "subscription", or a grant kind: "comp", "grandfather"
    ref: str  # the subscription id, or "grant:<id>"
    starts_at: datetime | None  # None: no lower bound (a subscription entitles from its start)
    ends_at: datetime | None  # the effective end (policy, revocation applied); None: no end
    active: bool  # gives the feature at `now` (before any ban)
    state: str  # active | scheduled | ended | revoked | not_entitling
    detail: str  # a subscription's status, or the grant's reason
    ends_by_policy: bool = False  # the end is ENTITLEMENTS_GRANDFATHER_UNTIL, read at each check


@dataclass(frozen=True)
class RestrictionFact:
    """A ban of a feature and its window."""

    ref: str  # "ban:<id>"
    reason: str  # the admins' note
    public_message: str  # what the reader is told
    starts_at: datetime
    ends_at: datetime | None  # the effective end (lifting applied); None: permanent
    active: bool
    state: str  # active | scheduled | ended | lifted


@dataclass(frozen=True)
class FeatureExplanation:
    """One feature: whether the account holds it now, and every source and ban behind that."""

    feature: str
    held: bool
    sources: tuple[SourceFact, ...]
    restrictions: tuple[RestrictionFact, ...]


@dataclass(frozen=True)
class SubscriptionSummary:
    """One mirrored Stripe subscription as resolve() judges it."""

    id: str
    status: str
    plan: str | None  # None: no price of the catalog
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    entitles_until: datetime | None  # None with `entitles` true: no end known
    entitles: bool  # entitles at `now`


@dataclass(frozen=True)
class TimelineEntry:
    """One dated event about the account: a fact's start or end, or an audit record."""

    at: datetime
    kind: str  # subscription | grant | ban | audit
    event: str  # e.g. grant.starts, ban.lifted, subscription.ended, or the audit action
    ref: str
    summary: str
    actor: str | None = None
    reason: str | None = None
    future: bool = False  # after `now`: scheduled by time alone


@dataclass(frozen=True)
class Explanation:
    """Everything an admin needs to see why an account may or may not do something."""

    account_id: str
    now: datetime
    created_at: datetime
    stripe_customer_id: str | None
    token_version: int
    access: Access  # resolve()'s answer, exactly what the check API serves
    features: tuple[FeatureExplanation, ...]  # every catalog feature, held or not
    subscriptions: tuple[SubscriptionSummary, ...]
    timeline: tuple[TimelineEntry, ...]  # oldest first


def _state(now: datetime, start: datetime | None, end: datetime | None) -> str:
    if start is not None and now < start:
        return "scheduled"
    return "active" if in_force(start, end, now) else "ended"


def _subscription_parts(
    sub: Subscription, policy: Policy, now: datetime
) -> tuple[SubscriptionSummary, list[tuple[str, SourceFact]]]:
    facts = subscription_facts(sub)
    window = subscription_window(facts, policy)
    entitles = window is not None and window.contains(now)
    end = window.end if window is not None else None
    plans = [p for k in facts.lookup_keys if (p := policy.catalog.plan_for_lookup_key(k))]
    summary = SubscriptionSummary(
        sub.id, sub.status, plans[0].id if plans else None, sub.current_period_start,
        sub.current_period_end, sub.cancel_at_period_end, end, entitles,
    )
    state = "not_entitling" if window is None else "active" if entitles else "ended"
    detail = f"Stripe status {sub.status}" + (", cancels at period end"
                                              if sub.cancel_at_period_end else "")
    sources = [
        (feature, SourceFact("subscription", sub.id, None, end, entitles, state, detail))
        for plan in plans
        for feature in sorted(plan.features)
    ]
    return summary, sources


def _grant_source(grant: Grant, policy: Policy, now: datetime) -> SourceFact:
    facts = grant_facts(grant, policy)
    end = effective_end(facts.ends_at, facts.revoked_at)
    state = _state(now, facts.starts_at, end)
    if facts.revoked_at is not None and facts.revoked_at <= now:
        state = "revoked"
    if grant.feature not in policy.catalog.features:
        state = "not_entitling"
    return SourceFact(
        grant.kind, f"grant:{grant.id}", grant.starts_at, end, state == "active", state,
        grant.reason, grant.ends_by_policy and policy.grandfather_until is not None,
    )


def _ban_restriction(ban: Ban, now: datetime) -> RestrictionFact:
    end = effective_end(ban.ends_at, ban.lifted_at)
    state = _state(now, ban.starts_at, end)
    if ban.lifted_at is not None and ban.lifted_at <= now:
        state = "lifted"
    return RestrictionFact(
        f"ban:{ban.id}",
        ban.reason,
        public_ban_message(ban.feature, ban.ends_at, ban.public_message),
        ban.starts_at,
        end,
        state == "active",
        state,
    )


def _fact_timeline(
    subs: list[Subscription], grants: list[Grant], bans: list[Ban], policy: Policy
) -> list[TimelineEntry]:
    entries: list[TimelineEntry] = []

    def add(at: datetime | None, kind: str, event: str, ref: str, summary: str,
            *, reason: str | None = None) -> None:
        if at is not None:
            entries.append(TimelineEntry(at, kind, event, ref, summary, reason=reason))

    for sub in subs:
        window = subscription_window(subscription_facts(sub), policy)
        add(sub.created_at, "subscription", "subscription.created", sub.id,
            f"subscription {sub.id} first seen (now {sub.status})")
        add(sub.canceled_at, "subscription", "subscription.canceled", sub.id,
            f"subscription {sub.id} canceled")
        add(sub.ended_at, "subscription", "subscription.ended", sub.id,
            f"subscription {sub.id} ended")
        add(sub.access_revoked_at, "subscription", "subscription.access_revoked", sub.id,
            f"access through subscription {sub.id} revoked", reason=sub.access_revoked_reason)
        if window is not None:
            add(window.end, "subscription", "subscription.access_ends", sub.id,
                f"subscription {sub.id} stops entitling unless Stripe renews it")
    for grant in grants:
        ref, end = f"grant:{grant.id}", grant_facts(grant, policy).ends_at
        add(grant.starts_at, "grant", "grant.starts", ref,
            f"{grant.kind} grant of {grant.feature} starts", reason=grant.reason)
        if grant.revoked_at is None or (end is not None and end < grant.revoked_at):
            policy_note = " (the grandfather period's end)" if grant.ends_by_policy else ""
            add(end, "grant", "grant.ends", ref,
                f"{grant.kind} grant of {grant.feature} ends{policy_note}")
        add(grant.revoked_at, "grant", "grant.revoked", ref,
            f"{grant.kind} grant of {grant.feature} revoked by {grant.revoked_by}",
            reason=grant.revoke_reason)
    for ban in bans:
        ref = f"ban:{ban.id}"
        add(ban.starts_at, "ban", "ban.starts", ref, f"ban of {ban.feature} starts",
            reason=ban.reason)
        if ban.lifted_at is None or (ban.ends_at is not None and ban.ends_at < ban.lifted_at):
            add(ban.ends_at, "ban", "ban.ends", ref, f"ban of {ban.feature} ends")
        add(ban.lifted_at, "ban", "ban.lifted", ref,
            f"ban of {ban.feature} lifted by {ban.lifted_by}", reason=ban.lift_reason)
    return entries


def _audit_timeline(session: Session, account_id: str) -> list[TimelineEntry]:
    events = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.account_id == account_id)
        .order_by(AuditEvent.id.desc())
        .limit(TIMELINE_AUDIT_LIMIT)
    )
    return [
        TimelineEntry(
            e.at, "audit", e.action, f"{e.subject_type}:{e.subject_id}",
            f"{e.action} on {e.subject_type} {e.subject_id}", e.actor, e.reason,
        )
        for e in events
    ]


_KIND_ORDER = {"subscription": 0, "grant": 1, "ban": 2, "audit": 3}


def explain_account(
    session: Session, account_id: str, *, policy: Policy, now: datetime
) -> Explanation:
    """Return why an account holds what it holds at `now`; raise NotFoundError if unknown."""
    validate_account_id(account_id)
    account = session.get(Account, account_id)
    if account is None:
        raise NotFoundError(
            f"no account {account_id!r}: it has no subscription, grant or ban yet"
        )
    subs = list(session.scalars(
        select(Subscription).where(Subscription.account_id == account_id)
        .order_by(Subscription.created_at, Subscription.id)
    ))
    grants = list(session.scalars(
        select(Grant).where(Grant.account_id == account_id).order_by(Grant.id)
    ))
    bans = list(session.scalars(select(Ban).where(Ban.account_id == account_id).order_by(Ban.id)))
    access = resolve(
        [subscription_facts(s) for s in subs],
        [grant_facts(g, policy) for g in grants],
        [ban_facts(b) for b in bans],
        now=now,
        policy=policy,
    )

    summaries, by_feature = [], []
    for sub in subs:
        summary, sources = _subscription_parts(sub, policy, now)
        summaries.append(summary)
        by_feature.extend(sources)
    by_feature.extend((g.feature, _grant_source(g, policy, now)) for g in grants)
    restrictions = [(b.feature, _ban_restriction(b, now)) for b in bans]
    features = tuple(
        FeatureExplanation(
            feature,
            feature in access.features,
            tuple(s for f, s in by_feature if f == feature),
            tuple(r for f, r in restrictions if f == feature),
        )
        for feature in policy.catalog.features
    )
    timeline = _fact_timeline(subs, grants, bans, policy) + _audit_timeline(session, account_id)
    timeline = [dataclasses.replace(e, future=e.at > now) for e in timeline]
    timeline.sort(key=lambda e: (e.at, _KIND_ORDER[e.kind], e.ref, e.event))
    return Explanation(
        account.id, now, account.created_at, account.stripe_customer_id, account.token_version,
        access, features, tuple(summaries), tuple(timeline),
    )


def to_json(value: Any) -> Any:
    """Return plain JSON data for a dataclass tree (times as RFC 3339)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return to_rfc3339(value)
    if isinstance(value, tuple | list):
        return [to_json(item) for item in value]
    return value
