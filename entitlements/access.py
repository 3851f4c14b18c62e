"""resolve(): the one place access is decided. Pure: no database, no Flask, no clock."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from .catalog import Catalog

# Stripe statuses: https://docs.stripe.com/billing/subscriptions/overview#subscription-statuses
ENTITLING_STATUSES = frozenset({"active", "trialing"})
PAST_DUE = "past_due"


@dataclass(frozen=True)
class Policy:
    """The rules resolve() applies besides the facts themselves."""

    catalog: Catalog
    past_due_grace: timedelta = timedelta(days=7)
    renewal_grace: timedelta = timedelta(hours=48)
    # The end of the past commenters' period; grants that follow the policy end then.
    grandfather_until: datetime | None = None

    def grant_end(self, ends_at: datetime | None, ends_by_policy: bool) -> datetime | None:
        """Return a grant's effective end: the policy's for grants that follow it."""
        if ends_by_policy and self.grandfather_until is not None:
            return self.grandfather_until
        return ends_at


@dataclass(frozen=True)
class SubscriptionFacts:
    """What resolve() needs to know of one Stripe subscription."""

    id: str
    status: str
    lookup_keys: tuple[str, ...]
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool = False
    cancel_at: datetime | None = None
    ended_at: datetime | None = None
    # Set when a refund or dispute ends access at once (billing policy).
    access_revoked_at: datetime | None = None


@dataclass(frozen=True)
class GrantFacts:
    """One feature granted outside Stripe (grandfather, comp, ...), inside a window."""

    id: int
    feature: str
    kind: str
    starts_at: datetime
    ends_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class BanFacts:
    """One feature withheld from an account inside a window, whatever its source."""

    id: int
    feature: str
    reason: str
    starts_at: datetime
    ends_at: datetime | None = None
    lifted_at: datetime | None = None


@dataclass(frozen=True, order=True)
class Source:
    """Why a feature is held: the kind of source and when it ends by time alone."""

    feature: str
    source: str
    ends_at: datetime | None
    ref: str = ""


@dataclass(frozen=True, order=True)
class Restriction:
    """A ban in force: the feature withheld, why, and until when (None: permanent)."""

    feature: str
    reason: str
    ends_at: datetime | None
    ref: str = ""


@dataclass(frozen=True)
class Access:
    """The answer for one account at one instant, and when it next changes."""

    features: tuple[str, ...]
    plan: str | None
    sources: tuple[Source, ...]
    restrictions: tuple[Restriction, ...]
    valid_until: datetime | None

    @property
    def snapshot(self) -> tuple[object, ...]:
        """Return the answer without valid_until, for comparing two instants."""
        return (self.features, self.plan, self.sources, self.restrictions)


@dataclass(frozen=True)
class _Window:
    """Half-open [start, end): None start means since forever, None end means for ever."""

    start: datetime | None
    end: datetime | None

    def contains(self, now: datetime) -> bool:
        return (self.start is None or self.start <= now) and (self.end is None or now < self.end)


def _earliest(*values: datetime | None) -> datetime | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def subscription_window(sub: SubscriptionFacts, policy: Policy) -> _Window | None:
    """Return when a subscription entitles, judged by its status, or None if it never does."""
    if sub.ended_at is not None:
        return None
    if sub.status in ENTITLING_STATUSES:
        if sub.current_period_end is None:
            end = None
        elif sub.cancel_at_period_end:
            # Cancelling at period end: paid up to that end, not a second after.
            end = sub.current_period_end
        else:
            # Renewing: if Stripe has said nothing past the period end, keep the paying
            # reader in for the renewal grace while reconciliation asks Stripe.
            end = sub.current_period_end + policy.renewal_grace
        end = _earliest(end, sub.cancel_at)
    elif sub.status == PAST_DUE and sub.current_period_start is not None:
        # Stripe moves the period forward when it creates the renewal invoice, so the
        # failed renewal happened at the start of the current (unpaid) period.
        end = sub.current_period_start + policy.past_due_grace
    else:
        return None
    return _Window(None, _earliest(end, sub.access_revoked_at))


def _at(
    subs: list[tuple[SubscriptionFacts, _Window]],
    grants: list[GrantFacts],
    bans: list[BanFacts],
    now: datetime,
    policy: Policy,
) -> tuple[tuple[str, ...], str | None, tuple[Source, ...], tuple[Restriction, ...]]:
    sources: set[Source] = set()
    plans: set[str] = set()
    for sub, window in subs:
        if not window.contains(now):
            continue
        for key in sub.lookup_keys:
            plan = policy.catalog.plan_for_lookup_key(key)
            if plan is None:
                continue
            plans.add(plan.id)
            for feature in plan.features:
                sources.add(Source(feature, "subscription", window.end, sub.id))
    for grant in grants:
        window = _Window(grant.starts_at, _earliest(grant.ends_at, grant.revoked_at))
        if window.contains(now) and grant.feature in policy.catalog.features:
            sources.add(Source(grant.feature, grant.kind, window.end, f"grant:{grant.id}"))
    restrictions: set[Restriction] = set()
    for ban in bans:
        window = _Window(ban.starts_at, _earliest(ban.ends_at, ban.lifted_at))
        if window.contains(now):
            restrictions.add(Restriction(ban.feature, ban.reason, window.end, f"ban:{ban.id}"))
    banned = {r.feature for r in restrictions}
    held = tuple(sorted({s.feature for s in sources} - banned))
    shown = tuple(sorted((s for s in sources if s.feature in held), key=_source_order))
    return held, min(plans) if plans else None, shown, tuple(sorted(restrictions, key=_ban_order))


def _source_order(source: Source) -> tuple[object, ...]:
    return (source.feature, source.source, source.ends_at is None, source.ends_at, source.ref)


def _ban_order(restriction: Restriction) -> tuple[object, ...]:
    # A total order, so the answer never depends on the order the rows came in.
    return (
        restriction.feature,
        restriction.ends_at is None,
        restriction.ends_at,
        restriction.ref,
        restriction.reason,
    )


def resolve(
    subscriptions: Iterable[SubscriptionFacts],
    grants: Iterable[GrantFacts],
    bans: Iterable[BanFacts],
    *,
    now: datetime,
    policy: Policy,
) -> Access:
    """Return the features an account holds at `now` and when that answer next changes."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    windowed = []
    for sub in subscriptions:
        window = subscription_window(sub, policy)
        if window is not None:
            windowed.append((sub, window))
    grant_list, ban_list = list(grants), list(bans)
    current = _at(windowed, grant_list, ban_list, now, policy)

    # The answer is constant between consecutive window boundaries, so the next change
    # is at the first boundary after `now` where the recomputed answer differs.
    boundaries: set[datetime] = set()
    boundaries.update(window.end for _, window in windowed if window.end is not None)
    for grant in grant_list:
        boundaries.update(t for t in (grant.starts_at, grant.ends_at, grant.revoked_at) if t)
    for ban in ban_list:
        boundaries.update(t for t in (ban.starts_at, ban.ends_at, ban.lifted_at) if t)
    valid_until = None
    for instant in sorted(t for t in boundaries if t > now):
        if _at(windowed, grant_list, ban_list, instant, policy) != current:
            valid_until = instant
            break
    features, plan, sources, restrictions = current
    return Access(features, plan, sources, restrictions, valid_until)
