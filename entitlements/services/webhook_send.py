"""One webhook POST with an overall deadline, to a destination checked at send time.

The deadline covers connect, TLS, send and every read together: a receiver that drips its
answer a byte at a time is cut when the deadline passes, not after each slow read (a socket
timeout alone restarts with every byte). No thread: before each socket call the timeout is
set to the time left.
"""

from __future__ import annotations

import http.client
import io
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .webhook_urls import DestinationError, resolve_destination

DEADLINE_SECONDS = 5.0  # connect + TLS + send + read, in total


@dataclass(frozen=True)
class Response:
    """What one POST came to: a status code, or the error that prevented one."""

    status: int | None
    error: str | None = None


Sender = Callable[[str, Mapping[str, str], bytes], Response]


class DeadlineError(TimeoutError):
    """The whole request took longer than its deadline."""


def destination_of(url: str, *, allow_private: bool) -> tuple[str, int, str]:
    """Return the (ip, port, host) to connect to for `url`, checked at send time: a name that
    resolves to a loopback, private, link-local or other special address is refused (unless
    private destinations are allowed), and the checked IP is the one connected to."""
    found = resolve_destination(url, allow_private=allow_private)
    return found.ip, found.port, found.host


class _DeadlineReader(io.RawIOBase):
    """A socket's reading side whose every read waits at most until the deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock, self._deadline = sock, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._sock.settimeout(_left(self._deadline))
        return self._sock.recv_into(buffer)


class _DeadlineSocket:
    """The parts of a socket http.client uses, each bounded by one overall deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock, self._deadline = sock, deadline

    def sendall(self, data: bytes) -> None:
        # Since Python 3.5 a timeout bounds the whole sendall, not each chunk.
        self._sock.settimeout(_left(self._deadline))
        self._sock.sendall(data)

    def makefile(self, mode: str, *_args: object, **_kwargs: object) -> io.BufferedReader:
        assert mode == "rb"
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))

    def close(self) -> None:
        self._sock.close()


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlineError(f"no answer within {DEADLINE_SECONDS:g} s")
    return left


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to a checked IP, with the URL's host in Host and TLS SNI."""

    def __init__(self, ip: str, port: int, host: str, *, tls: bool, deadline: float) -> None:
        super().__init__(host, port)
        self._ip, self._tls, self._deadline = ip, tls, deadline

    def connect(self) -> None:
        sock = socket.create_connection((self._ip, self.port), timeout=_left(self._deadline))
        if self._tls:
            context = ssl.create_default_context()
            sock.settimeout(_left(self._deadline))
            sock = context.wrap_socket(sock, server_hostname=self.host)
        self.sock = _DeadlineSocket(sock, self._deadline)


def post(
    url: str, headers: Mapping[str, str], body: bytes, *, allow_private: bool = False,
    deadline_seconds: float = DEADLINE_SECONDS,
) -> Response:
    """POST once within the deadline; never follow a redirect; keep only the status code."""
    deadline = time.monotonic() + deadline_seconds
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        ip, port, host = destination_of(url, allow_private=allow_private)
    except DestinationError as error:
        return Response(None, f"destination refused: {error}"[:500])
    connection = _PinnedConnection(ip, port, host, tls=parts.scheme == "https",
                                   deadline=deadline)
    try:
        connection.request("POST", path, body=body, headers=dict(headers))
        status = connection.getresponse().status
    except TimeoutError:  # the last read's timeout, or the deadline found between reads
        return Response(None, f"timeout: no complete answer within {deadline_seconds:g} s")
    except (OSError, http.client.HTTPException, UnicodeError) as error:
        return Response(None, f"{type(error).__name__}: {error}"[:500])
    finally:
        connection.close()
    if 200 <= status < 300:
        return Response(status)
    # The status only: a receiver's body (an internal service's answer) is never kept.
    return Response(status, f"HTTP {status}")
