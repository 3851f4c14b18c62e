"""Server plumbing the HTTP benchmarks share: free ports, gunicorn process groups, clean exits."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from _load import group_pids

HOST = "127.0.0.1"


def die_with_parent() -> None:
    """In the child before exec: ask Linux for SIGTERM when the benchmark dies (no leftovers)."""
    with contextlib.suppress(OSError, AttributeError):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """A gunicorn master, leader of its own process group, serving one app."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pgid(self) -> int:
        """The process group of the master and its workers."""
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        """Return the end of the server's log."""
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


def stop_server(server: Server) -> None:
    """Stop the master and its workers: SIGINT (quick shutdown), then SIGKILL what is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pgid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.process.wait(timeout=10)
    deadline = time.monotonic() + 5
    while group_pids(server.pgid) and time.monotonic() < deadline:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pgid, signal.SIGKILL)
        time.sleep(0.05)
    if server.process.poll() is None:
        server.process.kill()
        server.process.wait()
    left = group_pids(server.pgid)
    if left:
        print(f"warning: the {server.name} server left processes {left}", file=sys.stderr)


def exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    """Turn SIGTERM and SIGHUP into SystemExit, so every cleanup still runs."""
    raise SystemExit(128 + signum)
