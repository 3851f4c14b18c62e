"""resolve(): the one place access is decided, and the window arithmetic it shares with the
explanations (effective ends, in force). Pure: no database, no Flask, no clock."""

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
    message: str  # what the reader is told; the admins' note never reaches resolve()
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
    """A ban in force: the feature withheld, the reader's message, its end (None: permanent)."""

    feature: str
    message: str
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


def in_force(start: datetime | None, end: datetime | None, now: datetime) -> bool:
    """Return whether the half-open window [start, end) holds `now` (None: unbounded)."""
    return (start is None or start <= now) and (end is None or now < end)


def _earliest(*values: datetime | None) -> datetime | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def effective_end(ends_at: datetime | None, stopped_at: datetime | None) -> datetime | None:
    """Return when a grant or ban really ends: at its end or when revoked or lifted, if earlier."""
    return _earliest(ends_at, stopped_at)


@dataclass(frozen=True)
class Window:
    """Half-open [start, end): None start means since forever, None end means for ever."""

    start: datetime | None
    end: datetime | None

    def contains(self, now: datetime) -> bool:
        """Return whether the window holds `now`."""
        return in_force(self.start, self.end, now)


def subscription_window(sub: SubscriptionFacts, policy: Policy) -> Window | None:
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
    return Window(None, _earliest(end, sub.access_revoked_at))


# resolve() works on plain tuples and builds the Source and Restriction records once, for the
# answer: it recomputes the answer at several instants, and the records cost more to make.
# An entry is (feature, source kind or ban message, ends_at, ref), in the records' field order.
_Entry = tuple[str, str, datetime | None, str]
_Answer = tuple[tuple[str, ...], str | None, tuple[_Entry, ...], tuple[_Entry, ...]]
# A grant or ban in force from start (inclusive) to end (exclusive; None: for ever).
_Timed = tuple[datetime, datetime | None, _Entry]


def _at(
    subs: list[tuple[datetime | None, list[str], list[_Entry]]],
    grants: list[_Timed],
    bans: list[_Timed],
    now: datetime,
) -> _Answer:
    sources: set[_Entry] = set()
    plans: set[str] = set()
    for end, plan_ids, entries in subs:
        if end is None or now < end:
            plans.update(plan_ids)
            sources.update(entries)
    # in_force(), inlined for grants and bans: this runs once per boundary of the answer.
    for start, end, entry in grants:
        if start <= now and (end is None or now < end):
            sources.add(entry)
    restrictions = {
        entry for start, end, entry in bans if start <= now and (end is None or now < end)
    }
    banned = {entry[0] for entry in restrictions}
    held = tuple(sorted({entry[0] for entry in sources} - banned))
    shown = tuple(sorted((e for e in sources if e[0] not in banned), key=_source_order))
    return held, min(plans) if plans else None, shown, tuple(sorted(restrictions, key=_ban_order))


def _source_order(entry: _Entry) -> tuple[object, ...]:
    feature, kind, ends_at, ref = entry
    return (feature, kind, ends_at is None, ends_at, ref)


def _ban_order(entry: _Entry) -> tuple[object, ...]:
    # A total order, so the answer never depends on the order the rows came in.
    feature, message, ends_at, ref = entry
    return (feature, ends_at is None, ends_at, ref, message)


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
    catalog = policy.catalog
    subs = []
    for sub in subscriptions:
        window = subscription_window(sub, policy)
        if window is None:
            continue
        plans = [p for key in sub.lookup_keys if (p := catalog.plan_for_lookup_key(key))]
        entries = [(f, "subscription", window.end, sub.id) for p in plans for f in p.features]
        subs.append((window.end, [p.id for p in plans], entries))
    timed_grants: list[_Timed] = [
        (g.starts_at, end, (g.feature, g.kind, end, f"grant:{g.id}"))
        for g in grants
        if g.feature in catalog.features
        for end in [effective_end(g.ends_at, g.revoked_at)]
    ]
    timed_bans: list[_Timed] = [
        (b.starts_at, end, (b.feature, b.message, end, f"ban:{b.id}"))
        for b in bans
        for end in [effective_end(b.ends_at, b.lifted_at)]
    ]
    current = _at(subs, timed_grants, timed_bans, now)
    features, plan, sources, restrictions = current

    # The answer is constant between consecutive window boundaries, so the next change is at
    # the first boundary after `now` where the recomputed answer differs. The first end of a
    # source or restriction shown now certainly changes it (that entry goes), so only the
    # boundaries before that one need recomputing.
    shown_ends = [entry[2] for entry in (*sources, *restrictions) if entry[2] is not None]
    certain = min(shown_ends) if shown_ends else None
    boundaries = {end for end, _, _ in subs if end is not None and end > now}
    for start, end, _ in (*timed_grants, *timed_bans):
        boundaries.update(t for t in (start, end) if t is not None and t > now)
    valid_until = certain
    for instant in sorted(t for t in boundaries if certain is None or t < certain):
        if _at(subs, timed_grants, timed_bans, instant) != current:
            valid_until = instant
            break
    return Access(
        features,
        plan,
        tuple(Source(*entry) for entry in sources),
        tuple(Restriction(*entry) for entry in restrictions),
        valid_until,
    )
