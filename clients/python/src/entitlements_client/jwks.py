"""The JWKS cache: honours Cache-Control within bounds, refetches for an unknown kid at most
once a minute, keeps the keys it has through an outage, and never fetches under its lock."""

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
# Until a first JWKS arrives every token is refused: retry sooner then (a start-up outage).
STARTUP_RETRY_INTERVAL = 5.0
# Cache-Control max-age is honoured within these bounds; without one, the default.
MIN_MAX_AGE = 60.0
MAX_MAX_AGE = 86400.0
DEFAULT_MAX_AGE = 300.0
# Only the first keys of a JWKS are read: parsing a key costs a point validation.
MAX_KEYS = 100
_DIGITS = re.compile(r"[0-9]+")

Fetch = Callable[[str, float], _http.Response]


def _fetch(url: str, timeout: float) -> _http.Response:
    return _http.send("GET", url, headers={"Accept": "application/json"}, timeout=timeout)


def max_age(cache_control: str | None) -> float:
    """Return how long a JWKS answer may be used, from its Cache-Control, within the bounds."""
    directives = [d.strip(" \t") for d in (cache_control or "").split(",")]
    names = {d.partition("=")[0].lower() for d in directives}
    if "no-store" in names or "no-cache" in names:
        return MIN_MAX_AGE
    for directive in directives:
        name, equals, value = directive.partition("=")
        # Strictly `max-age=<digits>`: the Node SDK reads the same header the same way.
        if name.lower() == "max-age" and equals and _DIGITS.fullmatch(value):
            return min(max(float(value), MIN_MAX_AGE), MAX_MAX_AGE)
    return DEFAULT_MAX_AGE


def parse_jwks(body: bytes, algorithms: frozenset[str]) -> dict[str, Jwk]:
    """Return the usable keys of a JWKS document by kid (ValueError if it is not one)."""
    entries = json_object(body).get("keys")
    if not isinstance(entries, list):
        raise ValueError("no keys list")
    keys: dict[str, Jwk] = {}
    for entry in entries[:MAX_KEYS]:
        jwk = parse_jwk(entry, algorithms) if isinstance(entry, dict) else None
        # Unusable entries are skipped first; of two usable keys with one kid, the first wins.
        if jwk is not None and jwk.kid not in keys:
            keys[jwk.kid] = jwk
    return keys


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
        # Set while one thread fetches; the lock guards the state, never a fetch.
        self._in_flight: threading.Event | None = None
        self._lock = threading.Lock()
        self.fetches = 0  # attempts made, for tests and metrics

    @property
    def has_keys(self) -> bool:
        """Return whether a JWKS was ever fetched."""
        return self._keys is not None

    def get(self, kid: str) -> Jwk | None:
        """Return the key named `kid`, fetching the JWKS if it is stale or lacks the kid."""
        with self._lock:
            keys, now = self._keys, self._clock()
            known = keys is not None and kid in keys
            if known and now < self._fresh_until:
                return None if keys is None else keys[kid]
            flight, mine = self._in_flight, None
            if flight is None and self._due(now):
                flight = mine = self._in_flight = threading.Event()
                self._last_attempt = now
                self.fetches += 1
        if mine is not None:
            self._refresh(mine)
        elif flight is not None and not known:
            # An unknown kid may be the key just fetched: wait for the fetch under way.
            flight.wait(self._timeout + 1.0)
        # A known kid of a stale cache is answered with the cached key, without waiting.
        keys = self._keys
        return None if keys is None else keys.get(kid)

    def _due(self, now: float) -> bool:
        last = self._last_attempt
        interval = MIN_FETCH_INTERVAL if self._keys is not None else STARTUP_RETRY_INTERVAL
        return last is None or now - last >= interval

    def _refresh(self, flight: threading.Event) -> None:
        try:
            answer = self._fetch(self.url, self._timeout)
            if answer.status != 200:
                raise OSError(f"status {answer.status}")
            keys = parse_jwks(answer.body, self._algorithms)
        except (OSError, ValueError) as error:
            # An outage keeps the keys we have: tokens signed by them still verify.
            log.warning("JWKS fetch from %s failed, keeping %s cached keys: %s",
                        self.url, len(self._keys or {}), error)  # fmt: skip
        else:
            with self._lock:
                self._keys = keys
                started = self._last_attempt or 0.0
                self._fresh_until = started + max_age(answer.headers.get("cache-control"))
        finally:
            with self._lock:
                self._in_flight = None
            flight.set()
