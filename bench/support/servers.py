"""gunicorn servers for the HTTP benchmarks: free ports, process groups, readiness, clean stops."""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from support.cpu import group_pids

HOST = "127.0.0.1"
# gunicorn imports the baseline apps from here (`--pythonpath`), as the scripts do.
BENCH_DIR = Path(__file__).resolve().parent.parent


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


def start_server(
    name: str, app: str, *, workers: int, env: dict[str, str], cwd: str, threads: int = 1
) -> Server:
    """Start `gunicorn APP` on a free port, in a new session (its own process group).

    Sync workers, or gthread workers when `threads` is over 1.
    """
    port = free_port()
    log_path = Path(cwd) / f"gunicorn-{name}.log"
    command = [sys.executable, "-m", "gunicorn", "--workers", str(workers)]
    if threads > 1:
        command += ["--worker-class", "gthread", "--threads", str(threads)]
    else:
        command += ["--worker-class", "sync"]
    command += ["--bind", f"{HOST}:{port}", "--timeout", "60"]
    # No --access-logfile: gunicorn's access log is off by default.
    command += ["--log-level", "warning", "--pythonpath", str(BENCH_DIR), app]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,  # an empty folder: no stray gunicorn.conf.py is picked up
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509  (no threads of ours run yet here)
        )
    return Server(name, port, process, log_path)


def wait_ready(server: Server, path: str, method: str = "GET", timeout: float = 30.0) -> None:
    """Wait until `METHOD path` answers 200; raise with the server's log if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.process.poll() is None:
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection(HOST, server.port, timeout=2)
            conn.request(method, path, body=b"{}" if method == "POST" else None)
            if conn.getresponse().status == 200:
                conn.close()
                return
        time.sleep(0.1)
    raise RuntimeError(f"the {server.name} server did not become ready:\n{server.log_tail()}")


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
