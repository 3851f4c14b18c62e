"""A loopback proxy in front of the emulator that makes chosen Stripe requests fail on the wire.

The emulator answers like Stripe; this proxy adds what Stripe's edge does on a bad day: a 5xx
(JSON or an HTML page from a load balancer), a 429, a connection closed without an answer, or
a 400 the emulator would not give.
Our app's real SDK sees these on real HTTP; nothing inside the app is replaced.
"""

from __future__ import annotations

import http.client
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

# Headers that describe one hop, not the message (RFC 9110 section 7.6.1).
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}
# fault name -> (status, content type, body); "drop" closes the connection without answering.
FAULTS: dict[str, tuple[int, str, bytes]] = {
    "500": (
        500,
        "application/json",
        json.dumps({"error": {"type": "api_error", "message": "Stripe broke"}}).encode(),
    ),
    "503": (
        503,
        "application/json",
        json.dumps({"error": {"type": "api_error", "message": "Try again"}}).encode(),
    ),
    "502-html": (502, "text/html", b"<html><body>502 Bad Gateway</body></html>"),
    "400": (
        400,
        "application/json",
        json.dumps(
            {
                "error": {
                    "type": "invalid_request_error",
                    "code": "parameter_invalid",
                    "message": "Refused by the proxy",
                }
            }
        ).encode(),
    ),
    "401": (
        401,
        "application/json",
        json.dumps(
            {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}}
        ).encode(),
    ),
    "403": (
        403,
        "application/json",
        json.dumps(
            {"error": {"type": "invalid_request_error", "message": "Restricted key lacks rights"}}
        ).encode(),
    ),
    "429": (
        429,
        "application/json",
        json.dumps(
            {"error": {"type": "invalid_request_error", "code": "rate_limit", "message": "Slow"}}
        ).encode(),
    ),
}


@dataclass
class FlakyStripe:
    """Forward to `upstream`, except requests whose path starts with `only` while `fault` is set."""

    upstream: str | None = None
    fault: str | None = None
    only: str = "/"
    method: str | None = None  # fail only this method (None: any)
    failed: list[str] = field(default_factory=list)  # "METHOD path" of each request failed
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """The proxy's base address, for ENTITLEMENTS_STRIPE_API_BASE."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}"

    def fail(self, fault: str | None, *, only: str = "/", method: str | None = None) -> None:
        """Fail matching requests with `fault` from now on (None: forward everything)."""
        assert fault is None or fault == "drop" or fault in FAULTS
        self.fault, self.only, self.method = fault, only, method

    def __enter__(self) -> FlakyStripe:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                """Keep test output readable."""

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fault = proxy.fault
                if (
                    fault is not None
                    and self.path.startswith(proxy.only)
                    and proxy.method in (None, self.command)
                ):
                    proxy.failed.append(f"{self.command} {self.path.split('?')[0]}")
                    if fault == "drop":
                        self.close_connection = True
                        return  # no status line at all: the client sees the connection close
                    status, content_type, payload = FAULTS[fault]
                    self._answer(status, [("Content-Type", content_type)], payload)
                    return
                self._forward(body)

            def _forward(self, body: bytes) -> None:
                assert proxy.upstream is not None, "set FlakyStripe.upstream first"
                target = urlsplit(proxy.upstream)
                connection = http.client.HTTPConnection(target.hostname or "", target.port)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                    connection.request(self.command, self.path, body=body, headers=headers)
                    response = connection.getresponse()
                    kept = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
                    self._answer(response.status, kept, response.read())
                finally:
                    connection.close()

            def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_DELETE = _handle  # noqa: N815 - BaseHTTPRequestHandler's names

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
