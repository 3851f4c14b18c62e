"""Part 2: JWKS fetches while tokens with made-up kids arrive at a fixed rate.

Several threads share one verifier, as a threaded site service's workers would, and verify
between them `rate` tokens a second for `seconds` of real time: tokens signed with an
attacker's key under a fresh random kid each, and every GENUINE_EVERY-th a genuine token,
which must keep verifying throughout. The JWKS server counts the requests it answers.
The SDK may fetch once at start and then at most once per MIN_FETCH_INTERVAL (60 s): over a
span S from the initial fetch, at most 1 + floor(S / 60) requests.

A smoke run may hand the verifier a clock running `speed` times faster than real time (its
`monotonic` parameter, which the JWKS cache alone reads), so 2 s of flood span minutes.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec

from entitlements_client import TokenVerifier
from entitlements_client.errors import UnknownKeyError
from sdk_verify_scenario.site import AUDIENCE, ISSUER, JwksSite, claims, sign
from support.outcome import verdict

FETCH_INTERVAL = 60.0  # the issue's bound: at most one JWKS fetch per minute under a flood
GENUINE_EVERY = 50
MAX_SAMPLES = 5


class FastClock:
    """A monotonic clock running `speed` times faster than time.monotonic."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.origin = time.monotonic()

    def __call__(self) -> float:
        return self.origin + (time.monotonic() - self.origin) * self.speed


@dataclass
class Flood:
    """What the flood did and what the JWKS server saw."""

    sent: int = 0
    refused: int = 0  # forged tokens refused as UnknownKeyError, as they must be
    genuine: int = 0
    genuine_ok: int = 0
    failures: list[str] = field(default_factory=list)
    wall: float = 0.0
    span: float = 0.0  # verifier-clock seconds from the initial fetch to the flood's end
    hits: int = 0  # JWKS requests the server answered, the initial fetch included
    sdk_fetches: int = 0  # fetch attempts the SDK counted
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def allowed(self) -> int:
        """The most fetches the target allows: the initial one, then one per 60 s."""
        return 1 + math.floor(self.span / FETCH_INTERVAL)

    def fail(self, message: str) -> None:
        """Record a wrong answer (a few are kept to print)."""
        with self.lock:
            self.failures.append(message)


def _sender(
    verifier: TokenVerifier, genuine: str, rate: float, deadline: float, into: Flood
) -> None:
    """Verify tokens at `rate` per second until `deadline`, each due at a fixed instant."""
    attacker = ec.generate_private_key(ec.SECP256R1())
    sent = refused = genuine_sent = genuine_ok = 0
    start = time.monotonic()
    while (now := time.monotonic()) < deadline:
        due = start + sent / rate
        if due > now:
            time.sleep(due - now)
        sent += 1
        if sent % GENUINE_EVERY == 0:
            genuine_sent += 1
            try:
                verifier.verify(genuine)
                genuine_ok += 1
            except Exception as error:  # any refusal of a genuine token is a failure
                into.fail(f"genuine token refused: {error!r}")
            continue
        forged = sign(claims(), attacker, secrets.token_urlsafe(12))
        try:
            verifier.verify(forged)
        except UnknownKeyError:
            refused += 1
        except Exception as error:  # refused for another reason: the wrong code path
            into.fail(f"forged token refused as {type(error).__name__}: {error}")
        else:
            into.fail("a token with an unknown kid verified")
    with into.lock:
        into.sent += sent
        into.refused += refused
        into.genuine += genuine_sent
        into.genuine_ok += genuine_ok


def flood(site: JwksSite, *, seconds: float, rate: float, threads: int, speed: float) -> Flood:
    """Run the flood against a fresh verifier; return its counts."""
    clock: Callable[[], float] = FastClock(speed) if speed != 1 else time.monotonic
    verifier = TokenVerifier(site.url, ISSUER, AUDIENCE, monotonic=clock)
    result = Flood()
    hits_before = site.hit_count()
    genuine = site.token()
    # Read just before the initial fetch is stamped (microseconds), not after it returns: a
    # later reading could shift the 60 s grid and refuse a refetch the rule allows.
    first_fetch = clock()
    verifier.verify(genuine)  # the initial fetch
    started = time.monotonic()
    deadline = started + seconds
    workers = [
        threading.Thread(target=_sender, args=(verifier, genuine, rate / threads, deadline, result))
        for _ in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    result.span = clock() - first_fetch
    result.wall = time.monotonic() - started
    result.hits = site.hit_count() - hits_before
    result.sdk_fetches = verifier.jwks.fetches
    return result


def report(result: Flood, *, rate: float, threads: int, speed: float, smoke: bool) -> bool:
    """Print the flood's counts and the fetch target; return whether it is met."""
    achieved = result.sent / result.wall if result.wall else 0.0
    print(
        f"  {result.sent:,} tokens in {result.wall:.1f} s from {threads} threads:"
        f" {achieved:,.0f}/s (asked {rate:,.0f}/s); {result.refused:,} refused as unknown kid,"
        f" {result.genuine_ok:,} of {result.genuine:,} genuine tokens verified"
    )
    if achieved < 0.9 * rate:
        print("  warning: the machine could not keep the asked rate (the bound is per time)")
    clock = f" (verifier clock at {speed:g}x: {result.span:.0f} s)" if speed != 1 else ""
    print(
        f"  JWKS requests: {result.hits} answered by the server, {result.sdk_fetches} made by"
        f" the SDK, over {result.span / speed:.1f} s{clock} since the initial fetch"
    )
    for message in result.failures[:MAX_SAMPLES]:
        print(f"  ERROR {message}")
    if len(result.failures) > MAX_SAMPLES:
        print(f"  ERROR ... {len(result.failures) - MAX_SAMPLES} more")
    met = result.hits <= result.allowed
    print(
        f"target JWKS fetches <= 1 + 1 per {FETCH_INTERVAL:.0f} s = {result.allowed}:"
        f" {result.hits}  {verdict(met, smoke=smoke)}"
    )
    return met
