"""Smoke runs of the benchmarks work and judge no target: they print no PASS or BELOW."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from array import array
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
NOT_JUDGED = "not judged (smoke run)"


@pytest.fixture(scope="module")
def bench_modules() -> dict[str, ModuleType]:
    """The benchmarks' report modules (the scripts import their parts as top-level packages)."""
    names = (
        "http_api_scenario.measure",
        "http_api_scenario.report",
        "webhooks_scenario.report",
        "webhooks_scenario.rounds",
        "webhooks_scenario.senders",
        "webhooks_scenario.settings",
    )
    sys.path.insert(0, str(BENCH))
    try:
        return {name: importlib.import_module(name) for name in names}
    finally:
        sys.path.remove(str(BENCH))


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENTITLEMENTS_")}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_cli_startup_smoke_run_prints_its_timings_without_a_verdict() -> None:
    result = run_bench(str(BENCH / "cli_startup.py"), "--smoke", "--runs", "1")

    assert result.returncode == 0, result.stderr
    assert "python -c pass" in result.stdout
    assert "entitlements --help" in result.stdout
    assert NOT_JUDGED in result.stdout
    assert "PASS" not in result.stdout
    assert "BELOW" not in result.stdout


def test_grandfather_import_smoke_run_judges_no_target() -> None:
    admin = os.environ.get(
        "ENTITLEMENTS_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    server, _, database = admin.replace("+psycopg", "").rpartition("/")
    result = run_bench(
        str(BENCH / "grandfather_import.py"),
        "--smoke",
        "--rows",
        "300",
        "--postgres",
        server,
        "--admin-db",
        database,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert NOT_JUDGED in result.stdout
    assert "PASS" not in result.stdout
    assert "BELOW" not in result.stdout


@pytest.mark.parametrize(("smoke", "verdict"), [(True, NOT_JUDGED), (False, "BELOW")])
def test_http_api_report_judges_targets_outside_smoke_runs_only(
    bench_modules: dict[str, ModuleType],
    capsys: pytest.CaptureFixture[str],
    smoke: bool,
    verdict: str,
) -> None:
    measure = bench_modules["http_api_scenario.measure"]
    measured = {}
    for name, count in (("check", 10), ("token", 10), ("bare", 100)):
        m = measure.Measured(name, 200, seconds=1.0, server_cpu=0.1, db_cpu=0.1)
        m.result.latencies = array("d", [0.001] * count)
        measured[name] = m

    errors, met = bench_modules["http_api_scenario.report"].report(measured, smoke=smoke)

    out = capsys.readouterr().out
    assert (errors, met) == (0, False)  # a tenth of the bare rate misses every target
    target_lines = [line for line in out.splitlines() if "x bare requests/s" in line]
    assert len(target_lines) == 2
    assert all(verdict in line for line in target_lines)
    if smoke:
        assert "BELOW" not in out
        assert "PASS" not in out


@pytest.mark.parametrize(("smoke", "verdict"), [(True, NOT_JUDGED), (False, "BELOW")])
def test_webhooks_report_judges_the_target_outside_smoke_runs_only(
    bench_modules: dict[str, ModuleType],
    capsys: pytest.CaptureFixture[str],
    smoke: bool,
    verdict: str,
) -> None:
    settings = bench_modules["webhooks_scenario.settings"].parse_args(["--smoke"] if smoke else [])
    send_result = bench_modules["webhooks_scenario.senders"].SendResult
    rounds = {}
    for name, latency in (("webhook", 0.5), ("bare", 0.001)):
        result = send_result(latencies=[latency] * 10, first_start=0.0, last_end=1.0)
        rounds[name] = bench_modules["webhooks_scenario.rounds"].Measured(name, result)

    met = bench_modules["webhooks_scenario.report"].report(rounds, settings)

    out = capsys.readouterr().out
    assert met is False  # 500 ms p99 misses the 100 ms target
    assert f"ms: {verdict}" in out
    if smoke:
        assert "BELOW" not in out
        assert "PASS" not in out
