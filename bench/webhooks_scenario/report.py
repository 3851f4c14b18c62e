"""What bench/webhooks.py prints: the settings, the table with ratios to the bare route, errors."""

from __future__ import annotations

import math
import os

from support.machine import print_machine
from support.outcome import OTHER_LOAD_WARNING, verdict
from webhooks_scenario.rounds import Measured
from webhooks_scenario.settings import TARGET_P99_MS, Settings, worker_kind


def _ms(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def report(rounds: dict[str, Measured], settings: Settings) -> bool:
    """Print the table and the target; return whether p99 of first deliveries is within it."""
    bare = rounds["bare"].result.rate
    columns = (
        f"{'target':<10}{'count':>7}{'events/s':>10}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
        f"{'vs bare':>9}{'app CPU':>9}{'db CPU':>8}{'emu CPU':>9}{'gen CPU':>9}{'other %':>9}"
        f"{'errors':>8}"
    )
    print(columns)
    print(f"{'':<60}{'(ms of CPU per event, other: % of machine)':>46}")
    print("-" * len(columns))
    for m in rounds.values():
        r = m.result
        ratio = r.rate / bare if bare else math.nan
        print(
            f"{m.name:<10}{m.count:>7}{r.rate:>10.1f}{_ms(r.latency_ms(0.5)):>8}"
            f"{_ms(r.latency_ms(0.99)):>8}{_ms(r.latency_ms(1.0)):>8}{ratio:>9.3f}"
            f"{m.per_event_ms(m.server_cpu):>9.2f}{m.per_event_ms(m.db_cpu):>8.2f}"
            f"{m.per_event_ms(m.emulator_cpu):>9.2f}{m.per_event_ms(r.cpu_seconds):>9.2f}"
            f"{100 * m.other_share:>9.1f}{r.errors:>8}"
        )
    print()
    for m in rounds.values():
        calls = m.emulator_calls
        if calls and m.count:
            print(
                f"  {m.name}: {len(calls) / m.count:.2f} emulator re-fetches per event, "
                f"{1000 * sum(calls) / len(calls):.2f} ms mean service time each "
                f"({1000 * sum(calls) / m.count:.2f} ms per event)"
            )
        if m.result.results:
            print(f"  {m.name}: answers {dict(m.result.results)}")
        if m.other_share > OTHER_LOAD_WARNING:
            print(
                f"  WARNING {m.name}: processes outside the benchmark used "
                f"{100 * m.other_share:.0f} % of the machine; its numbers are unreliable"
            )
    webhook = rounds["webhook"].result
    p99 = webhook.latency_ms(0.99)
    met = p99 <= TARGET_P99_MS
    # A smoke run is too short to judge the target: it prints the numbers without a verdict.
    judged = verdict(met, smoke=settings.smoke)
    cores = len(os.sched_getaffinity(0))
    print(
        f"\np99 <= {TARGET_P99_MS:.0f} ms: {judged}  (first deliveries: "
        f"p99 {p99:.1f} ms at {settings.concurrency} in flight, {worker_kind(settings)}, "
        f"{cores} cores, +{settings.stripe_latency_ms:g} ms per re-fetch)"
    )
    return met


def report_errors(rounds: dict[str, Measured]) -> int:
    """Print the errors of every round; return how many there were."""
    errors = 0
    for m in rounds.values():
        errors += m.result.errors
        if m.result.errors:
            others = {s: n for s, n in m.result.statuses.items() if s != 200}
            print(f"ERRORS {m.name}: {m.result.errors}, statuses other than 200: {others}")
            for sample in m.result.error_samples:
                print(f"    {sample}")
    return errors


def print_header(settings: Settings, info: dict[str, str]) -> None:
    """Print the machine and the settings."""
    print_machine(info)
    print("== settings")
    print(
        f"  {settings.events} events (+{settings.warmup} warm-up), {settings.concurrency} in "
        f"flight from {settings.clients} sender process(es); gunicorn: {worker_kind(settings)} "
        f"per server; timeout {settings.timeout:g} s; added Stripe latency "
        f"{settings.stripe_latency_ms:g} ms per re-fetch{'; smoke mode' if settings.smoke else ''}"
    )
