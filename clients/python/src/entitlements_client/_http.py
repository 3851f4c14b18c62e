"""One HTTP exchange over the standard library's urllib: no redirects, a body size cap."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
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


_OPENER = urllib.request.build_opener(_NoRedirects())


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
    """Send one request; an error status is returned, a connection failure raises OSError."""
    # The scheme was checked by check_url() when the URL was configured: no file: URLs.
    request = urllib.request.Request(  # noqa: S310
        url, data=body, method=method, headers=dict(headers or {})
    )
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            return Response(answer.status, _headers(answer.headers), _read(answer))
    except urllib.error.HTTPError as error:
        with error:
            return Response(error.code, _headers(error.headers), _read(error))
    except http.client.HTTPException as error:
        # A broken answer (truncated, bad status line) is a transport failure, as a reset is.
        raise OSError(f"broken HTTP answer: {error!r}") from error


def _read(stream: urllib.response.addinfourl | urllib.error.HTTPError) -> bytes:
    data = stream.read(MAX_BODY + 1)
    if len(data) > MAX_BODY:
        raise OSError(f"answer over {MAX_BODY} bytes")
    return bytes(data)
