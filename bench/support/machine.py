"""What the results were measured on: the machine and the versions of the software under test."""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo, or the platform's guess."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine_info(server_version: str, packages: tuple[str, ...]) -> dict[str, str]:
    """Describe the machine, the versions of `packages` and of the PostgreSQL server."""
    from importlib.metadata import version

    usable = len(os.sched_getaffinity(0))
    return {
        "cores": f"{os.cpu_count()} logical, {usable} usable by this process",
        "cpu": cpu_model(),
        "load average": " ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1, 5, 15 min)",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": ", ".join(f"{name} {version(name)}" for name in packages),
        "postgresql": server_version,
    }


def print_machine(info: dict[str, str]) -> None:
    """Print the machine's description under `== machine`."""
    print("== machine")
    for key, value in info.items():
        print(f"  {key:<13} {value}")
