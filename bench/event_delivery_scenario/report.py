"""What the rounds measured: latency percentiles, deliveries/s, ratios, checks and verdicts."""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise

from event_delivery_scenario.phases import Round
from event_delivery_scenario.receiver import Arrival
from event_delivery_scenario.settings import TARGET_P99_S, Settings
from event_delivery_scenario.writer import Commit
from support.load import percentile
from support.outcome import verdict

# The writers must reach this share of --rate for the latency to count as measured at it.
RATE_SHARE = 0.95


def first_arrivals(arrivals: list[Arrival]) -> dict[tuple[str, int], Arrival]:
    """Return each event's first arrival (a redelivery is at-least-once, not a new event)."""
    first: dict[tuple[str, int], Arrival] = {}
    for arrival in sorted(arrivals, key=lambda a: a.at):
        first.setdefault((arrival.account_id, arrival.sequence), arrival)
    return first


def out_of_order(arrivals: list[Arrival]) -> int:
    """Count events that first arrived before an earlier event of their account."""
    by_account: dict[str, list[Arrival]] = defaultdict(list)
    for arrival in first_arrivals(arrivals).values():
        by_account[arrival.account_id].append(arrival)
    wrong = 0
    for seen in by_account.values():
        seen.sort(key=lambda a: a.at)
        wrong += sum(1 for a, b in pairwise(seen) if b.sequence < a.sequence)
    return wrong


def rate_of(times: list[float]) -> float:
    """Return events per second between the first and the last of `times`."""
    span = max(times) - min(times) if len(times) > 1 else 0.0
    return (len(times) - 1) / span if span > 0 else float("inf")


def latencies(commits: list[Commit], arrivals: list[Arrival]) -> list[float]:
    """Return, sorted, each committed change's seconds from COMMIT to its first arrival."""
    first = first_arrivals(arrivals)
    return sorted(
        first[(c.account_id, c.sequence)].at - c.at
        for c in commits
        if (c.account_id, c.sequence) in first
    )


def report_round(result: Round, settings: Settings, bare_rate: float) -> tuple[bool, int]:
    """Print one round; return whether its target was met and how many checks failed."""
    drained = rate_of([a.at for a in first_arrivals(result.backlog_arrivals).values()])
    measured = latencies(result.commits, result.arrivals)
    offered = rate_of([c.at for c in result.commits])
    delivered = rate_of([a.at for a in first_arrivals(result.arrivals).values()])
    duplicates = len(result.arrivals) - len(first_arrivals(result.arrivals))
    disorder = out_of_order(result.backlog_arrivals) + out_of_order(result.arrivals)
    p50, p99 = percentile(measured, 0.50), percentile(measured, 0.99)
    written = rate_of([c.at for c in result.backlog_commits])
    print(f"-- {result.workers} worker(s)")
    print(
        f"  backlog of {len(result.backlog_commits)} (written at {written:.1f} changes/s, "
        f"unpaced): {drained:.1f} deliveries/s ({drained / bare_rate:.2f} x bare POSTs)"
    )
    print(
        f"  at {offered:.1f} changes/s (asked {settings.rate:g}; writers at most "
        f"{result.writers_late * 1000:.0f} ms late): {len(measured)} delivered, "
        f"{delivered:.1f} deliveries/s"
    )
    print(
        f"  commit -> receiver: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
        f"max {max(measured) * 1000:.0f} ms"
    )
    print(f"  missing {result.missing}, duplicates {duplicates}, out of order {disorder}")
    at_rate = offered >= settings.rate * RATE_SHARE
    met = p99 <= TARGET_P99_S and at_rate
    note = "" if at_rate else f" (the writers reached only {offered:.1f} changes/s)"
    print(f"  p99 <= {TARGET_P99_S:g} s at {settings.rate:g} changes/s: "
          f"{verdict(met, smoke=settings.smoke)}{note}")
    return met, result.missing + disorder
