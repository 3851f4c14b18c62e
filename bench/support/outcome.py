"""How a benchmark ends: its verdict on a target, its exit status, and failures as messages."""

from __future__ import annotations

import multiprocessing
import signal
import subprocess
import sys
from collections.abc import Callable
from types import FrameType

EXIT_OK = 0
EXIT_ERRORS = 1  # a wrong answer, a failed request or a failed setup
EXIT_BELOW_TARGET = 3  # never in a smoke run
SMOKE_VERDICT = "not judged (smoke run)"
# Share of the machine used by processes outside the benchmark worth a warning.
OTHER_LOAD_WARNING = 0.10


def verdict(met: bool, *, smoke: bool) -> str:
    """Return PASS or BELOW; a smoke run is too short to judge a target and says so."""
    return SMOKE_VERDICT if smoke else "PASS" if met else "BELOW"


def exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    """Turn SIGTERM and SIGHUP into SystemExit, so every cleanup still runs."""
    raise SystemExit(128 + signum)


def run_guarded(run: Callable[[], int]) -> int:
    """Run a server benchmark; turn a failure into a one-line error and exit status 1.

    SIGTERM and SIGHUP exit through every cleanup (servers stopped, database dropped).
    """
    import psycopg

    signal.signal(signal.SIGTERM, exit_on_signal)
    signal.signal(signal.SIGHUP, exit_on_signal)
    try:
        return run()
    except (
        RuntimeError,
        OSError,
        subprocess.SubprocessError,
        multiprocessing.ProcessError,
        multiprocessing.TimeoutError,
        psycopg.Error,
    ) as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERRORS
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
