"""resolve(): the rules, one by one, then properties over random inputs."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from entitlements.access import (
    Access,
    BanFacts,
    GrantFacts,
    Policy,
    SubscriptionFacts,
    effective_end,
    in_force,
    resolve,
)
from entitlements.catalog import FEATURES, load_catalog
from tests.support.examples import examples

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
POLICY = Policy(
    catalog=load_catalog(None), past_due_grace=timedelta(days=7), renewal_grace=timedelta(hours=48)
)
ALL = tuple(sorted(FEATURES))


def sub(status: str = "active", **kwargs: object) -> SubscriptionFacts:
    """A Plus monthly subscription in its second day of a 30-day period."""
    fields: dict[str, object] = {
        "id": "sub_1",
        "status": status,
        "lookup_keys": ("plus_monthly",),
        "current_period_start": NOW - DAY,
        "current_period_end": NOW + 29 * DAY,
    }
    fields.update(kwargs)
    return SubscriptionFacts(**fields)  # type: ignore[arg-type]


def at(
    now: datetime = NOW,
    subs: Iterable[SubscriptionFacts] = (),
    grants: Iterable[GrantFacts] = (),
    bans: Iterable[BanFacts] = (),
    policy: Policy = POLICY,
) -> Access:
    return resolve(subs, grants, bans, now=now, policy=policy)


def test_unknown_account_holds_nothing_and_never_changes() -> None:
    access = at()
    assert access.features == ()
    assert access.plan is None
    assert access.sources == ()
    assert access.restrictions == ()
    assert access.valid_until is None


@pytest.mark.parametrize("status", ["active", "trialing"])
def test_active_and_trialing_subscriptions_grant_every_plus_feature(status: str) -> None:
    access = at(subs=[sub(status)])
    assert access.features == ALL
    assert access.plan == "plus"
    assert {s.source for s in access.sources} == {"subscription"}


@pytest.mark.parametrize(
    "status", ["incomplete", "incomplete_expired", "unpaid", "canceled", "paused"]
)
def test_other_statuses_never_entitle(status: str) -> None:
    access = at(subs=[sub(status)])
    assert access.features == ()
    assert access.plan is None


def test_renewing_subscription_lasts_through_renewal_grace_after_period_end() -> None:
    end = NOW + 29 * DAY
    access = at(subs=[sub()])
    assert access.valid_until == end + timedelta(hours=48)
    assert at(end + timedelta(hours=47), subs=[sub()]).features == ALL
    assert at(end + timedelta(hours=48), subs=[sub()]).features == ()


def test_cancel_at_period_end_entitles_until_the_end_and_not_a_second_after() -> None:
    end = NOW + 29 * DAY
    cancelling = sub(cancel_at_period_end=True)
    assert at(subs=[cancelling]).valid_until == end
    assert at(end - timedelta(seconds=1), subs=[cancelling]).features == ALL
    assert at(end, subs=[cancelling]).features == ()


def test_cancel_at_before_period_end_wins() -> None:
    cancel_at = NOW + 3 * DAY
    access = at(subs=[sub(cancel_at=cancel_at)])
    assert access.valid_until == cancel_at
    assert at(cancel_at, subs=[sub(cancel_at=cancel_at)]).features == ()


def test_past_due_entitles_for_grace_from_the_failed_renewal() -> None:
    # Stripe moved the period forward when it created the failed renewal invoice.
    failed_at = NOW - 2 * DAY
    past_due = sub(
        "past_due", current_period_start=failed_at, current_period_end=failed_at + 30 * DAY
    )
    access = at(subs=[past_due])
    assert access.features == ALL
    assert access.valid_until == failed_at + 7 * DAY
    assert at(failed_at + 7 * DAY - timedelta(seconds=1), subs=[past_due]).features == ALL
    assert at(failed_at + 7 * DAY, subs=[past_due]).features == ()


def test_past_due_grace_is_configurable() -> None:
    policy = Policy(catalog=POLICY.catalog, past_due_grace=timedelta(days=1))
    past_due = sub("past_due", current_period_start=NOW - 2 * DAY)
    assert at(subs=[past_due], policy=policy).features == ()


def test_ended_subscription_never_entitles_even_if_status_lags() -> None:
    assert at(subs=[sub(ended_at=NOW - DAY)]).features == ()


def test_refund_or_dispute_revocation_ends_access_at_that_instant() -> None:
    revoked = sub(access_revoked_at=NOW + DAY)
    assert at(subs=[revoked]).valid_until == NOW + DAY
    assert at(NOW + DAY, subs=[revoked]).features == ()


def test_price_outside_the_catalog_grants_nothing() -> None:
    assert at(subs=[sub(lookup_keys=("gold_monthly",))]).features == ()
    assert at(subs=[sub(lookup_keys=())]).plan is None


def test_catalog_change_reaches_existing_subscribers_without_backfill() -> None:
    from entitlements.catalog import parse_catalog

    smaller = parse_catalog(
        'features = ["comment", "ad_free", "digital_edition", "archive"]\n'
        '[plans.plus]\nfeatures = ["ad_free"]\nlookup_keys = ["plus_monthly"]\n'
    )
    assert at(subs=[sub()], policy=Policy(catalog=smaller)).features == ("ad_free",)


def test_grant_entitles_its_feature_only_inside_its_window() -> None:
    grant = GrantFacts(1, "comment", "grandfather", NOW + DAY, NOW + 10 * DAY)
    assert at(grants=[grant]).features == ()
    assert at(grants=[grant]).valid_until == NOW + DAY
    inside = at(NOW + DAY, grants=[grant])
    assert inside.features == ("comment",)
    assert inside.sources[0].source == "grandfather"
    assert inside.sources[0].ends_at == NOW + 10 * DAY
    assert inside.valid_until == NOW + 10 * DAY
    assert at(NOW + 10 * DAY, grants=[grant]).features == ()


def test_revoked_grant_stops_at_revocation() -> None:
    grant = GrantFacts(1, "archive", "comp", NOW - DAY, None, NOW + 2 * DAY)
    assert at(grants=[grant]).valid_until == NOW + 2 * DAY
    assert at(NOW + 2 * DAY, grants=[grant]).features == ()


def test_grant_without_end_never_expires() -> None:
    grant = GrantFacts(1, "ad_free", "comp", NOW - DAY)
    access = at(grants=[grant])
    assert access.features == ("ad_free",)
    assert access.valid_until is None


def test_ban_removes_comment_whatever_the_source_and_nothing_else() -> None:
    ban = BanFacts(1, "comment", "spam", NOW - DAY, NOW + 3 * DAY)
    grant = GrantFacts(2, "comment", "grandfather", NOW - DAY)
    access = at(subs=[sub()], grants=[grant], bans=[ban])
    assert access.features == ("ad_free", "archive", "digital_edition")
    assert access.plan == "plus"
    assert [r.feature for r in access.restrictions] == ["comment"]
    assert access.restrictions[0].message == "spam"
    assert all(s.feature != "comment" for s in access.sources)
    assert access.valid_until == NOW + 3 * DAY
    assert "comment" in at(NOW + 3 * DAY, subs=[sub()], grants=[grant], bans=[ban]).features


def test_permanent_ban_holds_until_lifted() -> None:
    ban = BanFacts(1, "comment", "abuse", NOW - DAY, None, NOW + DAY)
    grant = GrantFacts(2, "comment", "comp", NOW - DAY)
    assert at(grants=[grant], bans=[ban]).features == ()
    assert at(grants=[grant], bans=[ban]).valid_until == NOW + DAY
    assert at(NOW + DAY, grants=[grant], bans=[ban]).features == ("comment",)


def test_grandfather_grant_survives_the_subscription_it_sits_under() -> None:
    grant = GrantFacts(1, "comment", "grandfather", NOW - 30 * DAY, NOW + 60 * DAY)
    cancelling = sub(cancel_at_period_end=True)
    end = NOW + 29 * DAY
    during = at(subs=[cancelling], grants=[grant])
    assert {(s.feature, s.source) for s in during.sources} >= {
        ("comment", "subscription"),
        ("comment", "grandfather"),
    }
    after = at(end, subs=[cancelling], grants=[grant])
    assert after.features == ("comment",)
    assert after.valid_until == NOW + 60 * DAY
    assert at(NOW + 60 * DAY, subs=[cancelling], grants=[grant]).features == ()


def test_valid_until_skips_boundaries_that_change_nothing_visible() -> None:
    # The grant ends while a permanent ban hides it: the answer does not change then.
    grant = GrantFacts(1, "comment", "comp", NOW - DAY, NOW + DAY)
    ban = BanFacts(2, "comment", "abuse", NOW - DAY)
    assert at(grants=[grant], bans=[ban]).valid_until is None


def test_a_window_is_in_force_from_its_start_until_just_before_its_end() -> None:
    assert not in_force(NOW, NOW + DAY, NOW - timedelta(microseconds=1))
    assert in_force(NOW, NOW + DAY, NOW)
    assert not in_force(NOW, NOW + DAY, NOW + DAY)
    assert in_force(None, None, NOW)


def test_the_effective_end_is_the_earlier_of_the_end_and_the_revocation() -> None:
    assert effective_end(NOW + DAY, NOW) == NOW
    assert effective_end(NOW, NOW + DAY) == NOW
    assert effective_end(None, NOW) == NOW
    assert effective_end(NOW, None) == NOW
    assert effective_end(None, None) is None


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        resolve([], [], [], now=datetime(2026, 1, 1), policy=POLICY)  # noqa: DTZ001


# ---- properties ----------------------------------------------------------------------

BASE = datetime(2026, 1, 1, tzinfo=UTC)
offsets = st.integers(min_value=0, max_value=120).map(lambda d: BASE + timedelta(hours=12 * d))
maybe_time = st.none() | offsets
STATUSES = [
    "active",
    "trialing",
    "past_due",
    "incomplete",
    "incomplete_expired",
    "unpaid",
    "canceled",
    "paused",
]

subscriptions = st.builds(
    SubscriptionFacts,
    id=st.sampled_from(["sub_a", "sub_b", "sub_c"]),
    status=st.sampled_from(STATUSES),
    lookup_keys=st.sampled_from([("plus_monthly",), ("plus_annual",), ("other",), ()]),
    current_period_start=maybe_time,
    current_period_end=maybe_time,
    cancel_at_period_end=st.booleans(),
    cancel_at=maybe_time,
    ended_at=st.none() | offsets,
    access_revoked_at=st.none() | offsets,
)
grants = st.builds(
    GrantFacts,
    id=st.integers(1, 5),
    feature=st.sampled_from(FEATURES),
    kind=st.sampled_from(["grandfather", "comp"]),
    starts_at=offsets,
    ends_at=maybe_time,
    revoked_at=st.none() | offsets,
)
bans = st.builds(
    BanFacts,
    id=st.integers(1, 5),
    feature=st.sampled_from(["comment", "ad_free"]),
    message=st.sampled_from(["spam", "abuse"]),
    starts_at=offsets,
    ends_at=maybe_time,
    lifted_at=st.none() | offsets,
)
# Ids are unique per kind, as primary keys are.
inputs = st.tuples(
    st.lists(subscriptions, max_size=3, unique_by=lambda s: s.id),
    st.lists(grants, max_size=4, unique_by=lambda g: g.id),
    st.lists(bans, max_size=3, unique_by=lambda b: b.id),
    offsets,
)
# Pure and fast: four times the profile's examples (400 in `ci`, 4 000 in `full`).
Case = tuple[list[SubscriptionFacts], list[GrantFacts], list[BanFacts], datetime]
PROPERTY_SETTINGS = settings(
    max_examples=examples(4), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(inputs, st.floats(min_value=0.0, max_value=1.0, exclude_max=True))
def test_answer_is_constant_until_valid_until(case: Case, fraction: float) -> None:
    subs, grant_list, ban_list, now = case
    first = at(now, subs, grant_list, ban_list)
    horizon = first.valid_until or now + timedelta(days=400)
    # timedelta * float rounds to whole microseconds: keep the probe strictly before.
    probe = min(now + (horizon - now) * fraction, horizon - timedelta(microseconds=1))
    assert at(probe, subs, grant_list, ban_list).snapshot == first.snapshot


@PROPERTY_SETTINGS
@given(inputs)
def test_answer_changes_exactly_at_valid_until(case: Case) -> None:
    subs, grant_list, ban_list, now = case
    first = at(now, subs, grant_list, ban_list)
    if first.valid_until is None:
        # Nothing ends: the answer holds at every later boundary too.
        for later in (now + timedelta(days=d) for d in (1, 30, 365, 3650)):
            assert at(later, subs, grant_list, ban_list).snapshot == first.snapshot
        return
    assert first.valid_until > now
    assert at(first.valid_until, subs, grant_list, ban_list).snapshot != first.snapshot
    just_before = first.valid_until - timedelta(microseconds=1)
    assert at(just_before, subs, grant_list, ban_list).snapshot == first.snapshot


@PROPERTY_SETTINGS
@given(inputs, st.randoms(use_true_random=False))
def test_order_of_inputs_never_matters(case: Case, rnd: random.Random) -> None:
    subs, grant_list, ban_list, now = case
    first = at(now, subs, grant_list, ban_list)
    for items in (subs, grant_list, ban_list):
        rnd.shuffle(items)
    assert at(now, subs, grant_list, ban_list) == first


@PROPERTY_SETTINGS
@given(inputs)
def test_banned_features_are_never_held_and_sources_explain_every_feature(case: Case) -> None:
    subs, grant_list, ban_list, now = case
    access = at(now, subs, grant_list, ban_list)
    banned = {r.feature for r in access.restrictions}
    assert not banned & set(access.features)
    assert {s.feature for s in access.sources} == set(access.features)
    assert list(access.features) == sorted(access.features)
    assert all(s.ends_at is None or s.ends_at > now for s in access.sources)


def instants_named_by(
    subs: list[SubscriptionFacts], grant_list: list[GrantFacts], ban_list: list[BanFacts]
) -> set[datetime]:
    """Every instant the inputs name, and the grace ends derived from them."""
    named: set[datetime | None] = set()
    for s in subs:
        named.update([s.current_period_start, s.cancel_at, s.ended_at, s.access_revoked_at])
        if s.current_period_end is not None:
            named.update([s.current_period_end, s.current_period_end + POLICY.renewal_grace])
        if s.current_period_start is not None:
            named.add(s.current_period_start + POLICY.past_due_grace)
    for g in grant_list:
        named.update([g.starts_at, g.ends_at, g.revoked_at])
    for b in ban_list:
        named.update([b.starts_at, b.ends_at, b.lifted_at])
    return {instant for instant in named if instant is not None}


@PROPERTY_SETTINGS
@given(inputs)
def test_valid_until_is_the_first_named_instant_where_the_answer_differs(case: Case) -> None:
    # An oracle that knows nothing of windows: try every instant the inputs name, in order.
    subs, grant_list, ban_list, now = case
    first = at(now, subs, grant_list, ban_list)
    expected = None
    for instant in sorted(t for t in instants_named_by(subs, grant_list, ban_list) if t > now):
        if at(instant, subs, grant_list, ban_list).snapshot != first.snapshot:
            expected = instant
            break
    assert first.valid_until == expected
