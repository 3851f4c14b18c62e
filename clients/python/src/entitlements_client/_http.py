"""One HTTP exchange over the standard library's urllib: no redirects, a body size cap, and a
deadline for the whole exchange."""

from __future__ import annotations

import contextlib
import functools
import http.client
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

# Bodies the SDK reads are small JSON documents; a bigger one is an error, not a memory spike.
MAX_BODY = 1 << 20


@dataclass(frozen=True)
class Response:
    """Status, headers (lower-case names) and body of one answer."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Answer a 3xx as it is: a configured URL that redirects elsewhere is an error."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        """Refuse every redirect."""
        return None


# A socket timeout bounds each read, not a server that drips one byte a second: the deadline
# shuts the exchange's sockets down, which wakes a blocked read at once.
class Deadline:
    """Shuts the sockets of one exchange down when its time is up."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._timer.cancel()

    def watch(self, sock: socket.socket) -> None:
        """Shut `sock` down at the deadline (at once if it has passed)."""
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    # Already closed or never connected: nothing to wake.
    with contextlib.suppress(OSError):
        # The plain socket's shutdown, also under TLS: it wakes a read blocked in another thread.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Request(urllib.request.Request):
    """A request that carries its deadline to the connection."""

    def __init__(self, url: str, deadline: Deadline, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.deadline = deadline


class _WatchedHTTP(http.client.HTTPConnection):
    """A connection whose socket the deadline shuts down."""

    def __init__(self, *args: Any, deadline: Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline = deadline

    def connect(self) -> None:
        """Connect, then put the socket under the deadline."""
        super().connect()
        self._deadline.watch(self.sock)


class _WatchedHTTPS(http.client.HTTPSConnection):
    """A TLS connection whose socket the deadline shuts down."""

    def __init__(self, *args: Any, deadline: Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline = deadline

    def connect(self) -> None:
        """Connect (and shake hands), then put the socket under the deadline."""
        super().connect()
        self._deadline.watch(self.sock)


def _deadline_of(request: urllib.request.Request) -> Deadline:
    if not isinstance(request, _Request):
        raise TypeError("requests go through send()")
    return request.deadline


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_WatchedHTTP, deadline=_deadline_of(req)), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        connection = functools.partial(_WatchedHTTPS, deadline=_deadline_of(req))
        return self.do_open(connection, req, context=getattr(self, "_context", None))


_OPENER = urllib.request.build_opener(_NoRedirects(), _HTTPHandler(), _HTTPSHandler())


def check_url(url: str) -> str:
    """Return `url` if it is an absolute http(s) URL, else raise ValueError."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError(f"not an http(s) URL: {url!r}")
    return url


def _headers(message: Message) -> dict[str, str]:
    return {name.lower(): value for name, value in message.items()}


def send(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout: float,
) -> Response:
    """Send one request, `timeout` seconds in all; return any status, else raise OSError."""
    with Deadline(timeout) as deadline:
        # The scheme was checked by check_url() when the URL was configured: no file: URLs.
        request = _Request(url, deadline, data=body, method=method, headers=dict(headers or {}))
        try:
            answer = _exchange(request, timeout)
        except (OSError, http.client.HTTPException, ValueError) as error:
            if deadline.expired:
                raise OSError(f"no complete answer within {timeout:g} s") from error
            if isinstance(error, http.client.HTTPException):
                # A broken answer (truncated, bad status line) is a transport failure, as a
                # reset is.
                raise OSError(f"broken HTTP answer: {error!r}") from error
            raise
        if deadline.expired:
            # A body without Content-Length ends where the shutdown cut it: not an answer.
            raise OSError(f"no complete answer within {timeout:g} s")
        return answer


def _exchange(request: _Request, timeout: float) -> Response:
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            return Response(answer.status, _headers(answer.headers), _read(answer))
    except urllib.error.HTTPError as error:
        with error:
            return Response(error.code, _headers(error.headers), _read(error))


def _read(stream: urllib.response.addinfourl | urllib.error.HTTPError) -> bytes:
    data = stream.read(MAX_BODY + 1)
    if len(data) > MAX_BODY:
        raise OSError(f"answer over {MAX_BODY} bytes")
    return bytes(data)
