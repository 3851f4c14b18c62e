"""The JWKS cache: honours Cache-Control within bounds, refetches for an unknown kid at most
once a minute, and keeps the keys it has through an outage."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping

from . import _http
from ._jose import Jwk, json_object, parse_jwk

log = logging.getLogger(__name__)

# A flood of tokens with made-up kids must not become a flood of fetches: every fetch, for an
# unknown kid or an expired cache, waits this long after the previous attempt.
MIN_FETCH_INTERVAL = 60.0
# Cache-Control max-age is honoured within these bounds; without one, the default.
MIN_MAX_AGE = 60.0
MAX_MAX_AGE = 86400.0
DEFAULT_MAX_AGE = 300.0
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)

Fetch = Callable[[str, float], _http.Response]


def _fetch(url: str, timeout: float) -> _http.Response:
    return _http.send("GET", url, headers={"Accept": "application/json"}, timeout=timeout)


def max_age(cache_control: str | None) -> float:
    """Return how long a JWKS answer may be used, from its Cache-Control, within the bounds."""
    if not cache_control:
        return DEFAULT_MAX_AGE
    directives = cache_control.lower()
    if "no-store" in directives or "no-cache" in directives:
        return MIN_MAX_AGE
    match = _MAX_AGE.search(cache_control)
    if match is None:
        return DEFAULT_MAX_AGE
    return min(max(float(match.group(1)), MIN_MAX_AGE), MAX_MAX_AGE)


class JwksCache:
    """The published keys by kid, fetched lazily and shared by every thread."""

    def __init__(
        self,
        url: str,
        *,
        algorithms: frozenset[str],
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        fetch: Fetch = _fetch,
    ) -> None:
        self.url = _http.check_url(url)
        self._algorithms = algorithms
        self._timeout = timeout
        self._clock = clock
        self._fetch = fetch
        self._keys: Mapping[str, Jwk] | None = None  # None: never fetched successfully
        self._fresh_until = 0.0
        self._last_attempt: float | None = None
        self._lock = threading.Lock()
        self.fetches = 0  # attempts made, for tests and metrics

    @property
    def has_keys(self) -> bool:
        """Return whether a JWKS was ever fetched."""
        return self._keys is not None

    def get(self, kid: str) -> Jwk | None:
        """Return the key named `kid`, fetching the JWKS if it is stale or lacks the kid."""
        keys = self._keys
        if keys is not None and kid in keys:
            if self._clock() < self._fresh_until:
                return keys[kid]
            # Stale: one thread refreshes while the others go on with the keys they have.
            if not self._lock.acquire(blocking=False):
                return keys[kid]
        else:
            self._lock.acquire()
        try:
            # Checked again under the lock: another thread may have just fetched.
            keys, now, last = self._keys, self._clock(), self._last_attempt
            wanted = keys is None or kid not in keys or now >= self._fresh_until
            if wanted and (last is None or now - last >= MIN_FETCH_INTERVAL):
                self._refresh()
                keys = self._keys
        finally:
            self._lock.release()
        return None if keys is None else keys.get(kid)

    def _refresh(self) -> None:
        self._last_attempt = self._clock()
        self.fetches += 1
        try:
            answer = self._fetch(self.url, self._timeout)
            if answer.status != 200:
                raise OSError(f"status {answer.status}")
            entries = json_object(answer.body).get("keys")
            if not isinstance(entries, list):
                raise ValueError("no keys list")
        except (OSError, ValueError) as error:
            # An outage keeps the keys we have: tokens signed by them still verify.
            log.warning("JWKS fetch from %s failed, keeping %s cached keys: %s",
                        self.url, len(self._keys or {}), error)  # fmt: skip
            return
        keys: dict[str, Jwk] = {}
        for entry in entries:
            jwk = parse_jwk(entry, self._algorithms) if isinstance(entry, dict) else None
            if jwk is not None:
                keys[jwk.kid] = jwk
        self._keys = keys
        self._fresh_until = self._last_attempt + max_age(answer.headers.get("cache-control"))
