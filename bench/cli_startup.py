"""Time the command line's start-up: `entitlements --help` against `python -c pass`.

Run from the checkout, with the project's virtualenv:

    .venv/bin/python bench/cli_startup.py            # 21 runs of each command
    .venv/bin/python bench/cli_startup.py --smoke    # 3 runs of each (CI; judges nothing)

What it does: runs, in turn and many times, a bare interpreter (`python -c pass`, the
baseline), `entitlements --help` and a few subcommands' --help through the installed console
script; prints the median wall time of each and its excess over the baseline, measured in the
same run; and checks the target: every --help at most 0.3 s over the baseline. Commands take
turns run by run, so a change in the machine's speed during the run weighs on all alike.

Exit status: 0 when every command succeeded and, outside --smoke, the target is met; 1 when a
command failed; 3 when the target was missed (never in --smoke).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from support.outcome import EXIT_BELOW_TARGET, EXIT_ERRORS, EXIT_OK, verdict

TARGET_EXCESS_S = 0.3
BIN = os.path.dirname(sys.executable)
SCRIPT = os.path.join(BIN, "entitlements")
HELPS = (
    ["--help"],
    ["demo", "run", "--help"],
    ["grants", "add", "--help"],
    ["service-keys", "create", "--help"],
    ["db", "upgrade", "--help"],
)


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, help="runs of each command (default 21; smoke 3)")
    parser.add_argument("--smoke", action="store_true", help="short run; judges no target")
    return parser.parse_args()


def timed(argv: list[str]) -> float:
    """Run `argv` once, its output discarded; return its wall time in seconds."""
    # Only ENTITLEMENTS_* is dropped: --help must answer whatever the configuration says.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENTITLEMENTS_")}
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, env=env, timeout=60, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr!r}")
    return elapsed


def main() -> int:
    """Print the medians and the verdict; return the exit status."""
    args = parse_args()
    runs = args.runs if args.runs is not None else (3 if args.smoke else 21)
    if not os.path.exists(SCRIPT):
        print(f"error: no console script at {SCRIPT}: pip install -e . first", file=sys.stderr)
        return EXIT_ERRORS
    commands = {"python -c pass": [sys.executable, "-c", "pass"]}
    commands.update({"entitlements " + " ".join(h): [SCRIPT, *h] for h in HELPS})
    samples: dict[str, list[float]] = {name: [] for name in commands}
    try:
        for argv in commands.values():
            timed(argv)  # warm the file cache and the .pyc files, untimed
        for _ in range(runs):
            for name, argv in commands.items():
                samples[name].append(timed(argv))
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERRORS
    medians = {name: statistics.median(times) for name, times in samples.items()}
    baseline = medians["python -c pass"]
    print(f"cli start-up: median of {runs} runs each, {os.cpu_count()} cores")
    print(f"{'command':<42}{'median s':>10}{'over baseline s':>17}")
    for name, median in medians.items():
        print(f"{name:<42}{median:>10.3f}{median - baseline:>17.3f}")
    worst = max(m - baseline for name, m in medians.items() if name != "python -c pass")
    met = worst <= TARGET_EXCESS_S
    judged = verdict(met, smoke=args.smoke)
    print(f"every --help <= {TARGET_EXCESS_S} s over the baseline: {judged} (worst {worst:.3f} s)")
    return EXIT_OK if met or args.smoke else EXIT_BELOW_TARGET


if __name__ == "__main__":
    sys.exit(main())
