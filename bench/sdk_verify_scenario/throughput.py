"""Part 1: TokenVerifier.verify against a raw jwt.decode of the same token, in interleaved rounds.

Both sides verify the same ES256 token with the same public key and check the same claims:
exact issuer, audience, and exp/iat/iss/aud/sub present. The SDK also looks the kid up in its
(warm) JWKS cache and checks the header strictly; that is the overhead being measured.
Each window times batches with the thread's CPU clock and the wall clock: the CPU rate is the
verdict's, as other engineers' processes on a shared machine stretch wall time at random.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import jwt

from entitlements_client import TokenVerifier
from sdk_verify_scenario.site import AUDIENCE, ISSUER, JwksSite
from support.cpu import cpu_seconds, machine_busy_seconds
from support.outcome import verdict

TARGET_RATIO = 0.90  # SDK verifies per CPU second, as a fraction of jwt.decode's
ORDER = ("jwt.decode", "TokenVerifier")  # odd rounds; even rounds reverse it
BATCH = 50


@dataclass
class Measured:
    """What one target did over every round."""

    calls: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    per_round: list[float] = field(default_factory=list)  # calls per CPU second, each round

    @property
    def wall_rate(self) -> float:
        """Calls per wall-clock second."""
        return self.calls / self.wall if self.wall else 0.0

    @property
    def cpu_rate(self) -> float:
        """Calls per CPU second of the measuring thread."""
        return self.calls / self.cpu if self.cpu else 0.0


def window(fn: Callable[[], object], seconds: float, into: Measured) -> None:
    """Call fn in batches for about `seconds` of wall time; add the counts to `into`."""
    calls, wall0, cpu0 = 0, time.perf_counter(), time.thread_time()
    while time.perf_counter() - wall0 < seconds:
        for _ in range(BATCH):
            fn()
        calls += BATCH
    wall, cpu = time.perf_counter() - wall0, time.thread_time() - cpu0
    into.calls, into.wall, into.cpu = into.calls + calls, into.wall + wall, into.cpu + cpu
    into.per_round.append(calls / cpu if cpu else 0.0)


def targets(site: JwksSite, verifier: TokenVerifier, token: str) -> dict[str, Callable[[], Any]]:
    """Return both verifications of `token`, after checking that they agree on its claims."""
    baseline = partial(
        jwt.decode,
        token,
        site.key.public_key(),
        algorithms=["ES256"],
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )
    sdk = partial(verifier.verify, token)
    decoded, result = baseline(), sdk()
    if (result.account_id, sorted(result.features), result.plan) != (
        decoded["sub"],
        sorted(decoded["features"]),
        decoded["plan"],
    ):
        raise RuntimeError(f"the SDK and jwt.decode disagree: {result} vs {decoded}")
    if int(result.expires_at.timestamp()) != decoded["exp"]:
        raise RuntimeError("the SDK and jwt.decode disagree on exp")
    return {"jwt.decode": baseline, "TokenVerifier": sdk}


def measure(
    fns: dict[str, Callable[[], Any]], *, rounds: int, seconds: float
) -> tuple[dict[str, Measured], float]:
    """Run the interleaved rounds; return what each target did and the other processes' share."""
    for fn in fns.values():
        window(fn, min(seconds, 0.5), Measured())  # warm-up, untimed
    measured = {name: Measured() for name in fns}
    busy0, own0, wall0 = machine_busy_seconds(), cpu_seconds([os.getpid()]), time.monotonic()
    for number in range(1, rounds + 1):
        # Reversed on even rounds: a drift in the machine's speed weighs the same on both.
        for name in ORDER if number % 2 else ORDER[::-1]:
            window(fns[name], seconds, measured[name])
    wall = time.monotonic() - wall0
    other = machine_busy_seconds() - busy0 - (cpu_seconds([os.getpid()]) - own0)
    return measured, max(other, 0.0) / (wall * (os.cpu_count() or 1))


def report(measured: dict[str, Measured], other_share: float, *, smoke: bool) -> bool:
    """Print both rates and the ratios; return whether the target is met."""
    base, sdk = measured["jwt.decode"], measured["TokenVerifier"]
    print(f"{'target':<15}{'verifies':>10}{'per CPU s':>11}{'per wall s':>12}{'vs jwt.decode':>15}")
    for name, m in measured.items():
        ratio = m.cpu_rate / base.cpu_rate if base.cpu_rate else 0.0
        print(f"{name:<15}{m.calls:>10,}{m.cpu_rate:>11,.0f}{m.wall_rate:>12,.0f}{ratio:>15.3f}")
    ratio = sdk.cpu_rate / base.cpu_rate if base.cpu_rate else 0.0
    wall_ratio = sdk.wall_rate / base.wall_rate if base.wall_rate else 0.0
    rounds = [s / b for s, b in zip(sdk.per_round, base.per_round, strict=True) if b]
    spread = f"{min(rounds):.3f}..{max(rounds):.3f}" if rounds else "n/a"
    print(f"  ratio per round (CPU): {spread}; wall-clock ratio {wall_ratio:.3f};"
          f" other processes used {100 * other_share:.0f} % of the machine")  # fmt: skip
    met = ratio >= TARGET_RATIO
    print(
        f"target TokenVerifier.verify >= {TARGET_RATIO:.2f} x jwt.decode per CPU second:"
        f" {ratio:.3f}  {verdict(met, smoke=smoke)}"
    )
    return met


def profile(fn: Callable[[], object], calls: int, top: int = 12) -> None:
    """Run fn `calls` times under cProfile and print the functions with the most own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        fn()
    profiler.disable()
    stats = pstats.Stats(profiler).get_stats_profile()
    total = stats.total_tt or 1.0
    print(f"== profile: {calls} TokenVerifier.verify calls, {1e6 * total / calls:.1f} µs each"
          " (cProfile, inflated by its own overhead)")  # fmt: skip
    print(f"{'own µs/call':>12}{'own %':>7}{'cum µs/call':>12}  function")
    ranked = sorted(stats.func_profiles.items(), key=lambda item: -item[1].tottime)
    for name, prof in ranked[:top]:
        where = f"{os.path.basename(prof.file_name)}:{prof.line_number}({name})"
        print(
            f"{1e6 * prof.tottime / calls:>12.2f}{100 * prof.tottime / total:>7.1f}"
            f"{1e6 * prof.cumtime / calls:>12.2f}  {where}"
        )
