"""What bench/http_api.py prints: the settings, the table with ratios to the bare route, JSON."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from http_api_scenario.measure import Measured
from http_api_scenario.settings import GOALS, LABELS, ORDER, Settings
from support.machine import print_machine
from support.outcome import OTHER_LOAD_WARNING, verdict


def report(measured: dict[str, Measured], *, smoke: bool) -> tuple[int, bool]:
    """Print the table and the targets; return (failed requests, every target met).

    A smoke run is too short to judge a target: it prints its ratios without a verdict.
    """
    bare = measured["bare"].rps
    columns = (
        f"{'target':<7}{'requests/s':>11}{'p50 ms':>8}{'p99 ms':>8}{'vs bare':>9}"
        f"{'app CPU':>9}{'db CPU':>8}{'gen CPU':>9}{'other %':>9}{'errors':>8}"
    )
    print(columns)
    print(f"{'':<43}{'(ms of CPU per request)':>26}")
    print("-" * len(columns))
    for name in ("check", "token", "bare"):
        m = measured[name]
        ratio = m.rps / bare if bare else float("nan")
        print(
            f"{name:<7}{m.rps:>11,.0f}{m.latency_ms(0.50):>8.2f}{m.latency_ms(0.99):>8.2f}"
            f"{ratio:>9.3f}{m.per_request_ms(m.server_cpu):>9.3f}"
            f"{m.per_request_ms(m.db_cpu):>8.3f}{m.per_request_ms(m.result.cpu_seconds):>9.3f}"
            f"{100 * m.other_share:>9.1f}{m.errors:>8}"
        )
    print()
    met = True
    for name, goal in GOALS.items():
        m = measured[name]
        ratio = m.rps / bare if bare else 0.0
        met = met and ratio >= goal
        judged = verdict(ratio >= goal, smoke=smoke)
        cpu_ratio = measured["bare"].per_request_ms(measured["bare"].server_cpu) / (
            m.per_request_ms(m.server_cpu + m.db_cpu)
        )
        print(
            f"target {LABELS[name]:<15} >= {goal:.2f} x bare requests/s: {ratio:.3f}  {judged:<5}"
            f"  (bare / app+db CPU per request: {cpu_ratio:.3f})"
        )
    errors = 0
    for name in ORDER:
        m = measured[name]
        errors += m.errors
        if m.errors:
            others = {s: n for s, n in m.result.statuses.items() if s != m.expect}
            print(
                f"ERRORS {name}: {m.result.errors} in the windows, {m.warmup_errors} in warm-ups,"
                f" other statuses {others}"
            )
            for sample in m.result.error_samples:
                print(f"    {sample}")
        if m.result.reused:
            print(f"note: {name}: {m.result.reused} requests reused a kept-alive connection")
        if m.other_share > OTHER_LOAD_WARNING:
            print(
                f"WARNING {name}: processes outside the benchmark used "
                f"{100 * m.other_share:.0f} % of the machine; its numbers are unreliable"
            )
    return errors, met


def write_json(path: str, measured: dict[str, Measured], settings: Settings, info: Any) -> None:
    """Write the settings, machine and results as JSON (a CI artefact)."""
    bare = measured["bare"].rps
    results = {
        name: {
            "requests_per_second": m.rps,
            "p50_ms": m.latency_ms(0.50),
            "p99_ms": m.latency_ms(0.99),
            "ratio_vs_bare": m.rps / bare if bare else None,
            "app_cpu_ms_per_request": m.per_request_ms(m.server_cpu),
            "db_cpu_ms_per_request": m.per_request_ms(m.db_cpu),
            "generator_cpu_ms_per_request": m.per_request_ms(m.result.cpu_seconds),
            "other_load_share": m.other_share,
            "good_responses": m.ok,
            "errors": m.errors,
        }
        for name, m in measured.items()
    }
    data = {"settings": asdict(settings), "machine": info, "goals": GOALS, "results": results}
    Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def print_header(settings: Settings, info: dict[str, str]) -> None:
    """Print the machine and the settings."""
    print_machine(info)
    print("== settings")
    rounds = f" x {settings.rounds} rounds" if settings.rounds > 1 else ""
    print(
        f"  {settings.seconds:g} s per target{rounds}, each after a {settings.warmup:g} s "
        f"warm-up; {settings.concurrency} requests in flight from {settings.clients} load "
        f"process(es); gunicorn sync workers: {settings.workers} per server; request timeout "
        f"{settings.timeout:g} s{'; smoke mode' if settings.smoke else ''}"
    )
