"""JWKS caching: Cache-Control within bounds, one refetch a minute at most, outages survived."""

from __future__ import annotations

import secrets
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from conftest import Clock
from entitlements_client import TokenVerifier, errors
from entitlements_client.jwks import max_age
from forge import AUDIENCE, ISSUER, Site, claims, es256, header, local_site, new_key, public_jwk


def fetches(site: Site) -> int:
    return site.hits["/jwks.json"]


def test_flood_of_unknown_kids_costs_at_most_one_fetch_a_minute(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey, site: Site, clock: Clock
) -> None:
    start = clock.now
    refused = 0
    # 1 000 forged tokens a second for three minutes, each with a fresh kid.
    for n in range(180_000):
        clock.now = start + n / 1000
        if n % 100:
            continue  # the clock moves for all; a sample of them is sent (keeps the test fast)
        token = es256(key, header(kid=secrets.token_hex(8)), claims())
        with pytest.raises(errors.UnknownKeyError):
            verifier.verify(token)
        refused += 1
    assert refused == 1800
    # The first fetch, then one each 60 s: at 60 and 120 s.
    assert fetches(site) == 3


def test_unknown_kid_of_a_new_key_is_fetched_once_the_minute_has_passed(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey, site: Site, clock: Clock
) -> None:
    assert verifier.verify(es256(key, header(), claims()))
    rotated = new_key()
    site.serve_jwks(public_jwk(key), public_jwk(rotated, "key-2"))
    token = es256(rotated, header(kid="key-2"), claims())
    clock.now += 30
    with pytest.raises(errors.UnknownKeyError):
        verifier.verify(token)
    assert fetches(site) == 1
    clock.now += 31
    assert verifier.verify(token).account_id == "reader-1"
    assert fetches(site) == 2


def test_concurrent_unknown_kids_share_one_fetch(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey, site: Site
) -> None:
    assert verifier.verify(es256(key, header(), claims()))
    tokens = [es256(key, header(kid=f"made-up-{n}"), claims()) for n in range(20)]
    barrier = threading.Barrier(len(tokens))
    outcomes: list[str] = []

    def attempt(token: str) -> None:
        barrier.wait()
        try:
            verifier.verify(token)
        except errors.VerificationError as error:
            outcomes.append(error.code)

    threads = [threading.Thread(target=attempt, args=(t,)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == ["unknown_kid"] * 20
    assert fetches(site) == 1


@pytest.mark.parametrize("failure", ["status", "garbage", "down"])
def test_outage_keeps_the_cached_keys(
    verifier: TokenVerifier,
    key: ec.EllipticCurvePrivateKey,
    site: Site,
    clock: Clock,
    failure: str,
) -> None:
    token = es256(key, header(), claims(exp=int(clock.now) + 100_000))
    assert verifier.verify(token)
    if failure == "status":
        site.status = 503
    elif failure == "garbage":
        site.body = b"<html>maintenance</html>"
    else:
        verifier.jwks.url = "http://127.0.0.1:9/jwks.json"  # nothing listens on port 9
    for _ in range(3):
        clock.now += 3600  # long past max-age=300
        assert verifier.verify(token).account_id == "reader-1"
    assert verifier.jwks.fetches == 4  # one attempt each time the cache went stale


def test_jwks_unreachable_from_the_start_is_its_own_error(clock: Clock) -> None:
    with local_site() as site:
        site.status = 503
        verifier = TokenVerifier(
            f"{site.url}/jwks.json", ISSUER, AUDIENCE, clock=clock, monotonic=clock
        )
        token = es256(new_key(), header(), claims())
        with pytest.raises(errors.JwksUnavailableError) as caught:
            verifier.verify(token)
        assert caught.value.code == "jwks_unavailable"
        with pytest.raises(errors.JwksUnavailableError):
            verifier.verify(token)
        assert fetches(site) == 1  # the retry waits a minute too


@pytest.mark.parametrize(
    "case",
    [
        ("public, max-age=3600", 3590, 3601),
        ("max-age=5", 59, 61),  # below the floor: a minute
        ("no-store", 59, 61),
        ("", 299, 301),  # none: five minutes
        ("max-age=999999999", 86_000, 86_401),  # above the ceiling: a day
    ],
)
def test_cache_control_is_honoured_within_bounds(
    verifier: TokenVerifier,
    key: ec.EllipticCurvePrivateKey,
    site: Site,
    clock: Clock,
    case: tuple[str, int, int],
) -> None:
    cache_control, kept, refetched = case
    site.serve_jwks(public_jwk(key), cache_control=cache_control)
    if not cache_control:
        del site.headers["Cache-Control"]
    start = clock.now
    token = es256(key, header(), claims(exp=int(start) + 100_000))
    assert verifier.verify(token)
    clock.now = start + kept
    assert verifier.verify(token)
    assert fetches(site) == 1
    clock.now = start + refetched
    assert verifier.verify(token)
    assert fetches(site) == 2


def test_a_key_removed_from_the_jwks_stops_verifying(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey, site: Site, clock: Clock
) -> None:
    token = es256(key, header(), claims(exp=int(clock.now) + 100_000))
    assert verifier.verify(token)
    site.serve_jwks(public_jwk(new_key(), "key-2"))
    clock.now += 301
    with pytest.raises(errors.UnknownKeyError):
        verifier.verify(token)


def test_unusable_jwks_entries_are_skipped(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey, site: Site
) -> None:
    good: dict[str, str | None] = {**public_jwk(key, "good")}
    off_curve: dict[str, str | None] = {**public_jwk(key, "off-curve"), "y": public_jwk(key)["x"]}
    entries: list[dict[str, str | None]] = [
        {**public_jwk(key, "private"), "d": "secret"},
        {**public_jwk(key, "no-alg"), "alg": None},
        {**public_jwk(key, "hs"), "alg": "HS256"},
        {**public_jwk(key, "p384"), "crv": "P-384"},
        {**public_jwk(key, "enc"), "use": "enc"},
        {**public_jwk(key, "short"), "x": "AAAA"},
        {k: v for k, v in public_jwk(key, "no-y").items() if k != "y"},
        off_curve,
        good,
    ]
    site.serve_jwks(*[{k: v for k, v in e.items() if v is not None} for e in entries])
    assert verifier.verify(es256(key, header(kid="good"), claims()))
    for entry in entries[:-1]:
        with pytest.raises(errors.UnknownKeyError):
            verifier.verify(es256(key, header(kid=str(entry["kid"])), claims()))


def test_max_age_parsing() -> None:
    assert max_age("public, max-age=120") == 120
    assert max_age("max-age=120, must-revalidate") == 120
    assert max_age('max-age="600"') == 300  # quoted: not the shared strict form
    assert max_age("s-maxage=9000") == 300
    assert max_age(None) == 300
    assert max_age("no-cache, max-age=600") == 60
