"""EntitlementsClient: the check, token, hand-off and policy calls, with timeouts, bounded
retries and a check cache that never outlives the answer."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from . import _http, errors
from .jwks import max_age
from .results import (
    Access,
    Handoff,
    IssuedToken,
    Policy,
    access_from_json,
    policy_from_json,
    required_time,
)

Send = Callable[..., _http.Response]


class EntitlementsClient:
    """Call the entitlements service's API with a service key."""

    def __init__(
        self,
        base_url: str,
        service_key: str,
        *,
        timeout: float = 5.0,
        retries: int = 2,
        backoff: float = 0.1,
        max_backoff: float = 2.0,
        cache_ttl: float = 60.0,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        send: Send = _http.send,
    ) -> None:
        if retries < 0 or timeout <= 0:
            raise ValueError("retries must be >= 0 and timeout > 0")
        self.base_url = _http.check_url(base_url).rstrip("/")
        self._key = service_key
        self.timeout = timeout
        self.retries = retries
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._cache_ttl = cache_ttl
        self._cache_size = cache_size
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        self._send = send
        self._checks: OrderedDict[str, tuple[float, Access]] = OrderedDict()
        self._policy: tuple[float, Policy] | None = None
        self._lock = threading.Lock()

    def check(self, account_id: str, *, fresh: bool = False) -> Access:
        """Return what the account may do now (cached until its answer changes, at the latest)."""
        now = self._clock()
        with self._lock:
            cached = self._checks.get(account_id)
            if cached is not None and now < cached[0] and not fresh:
                self._checks.move_to_end(account_id)
                return cached[1]
        access = access_from_json(self._call("GET", f"{self._account(account_id)}/entitlements"))
        until = now + self._cache_ttl
        if access.valid_until is not None:
            # The answer changes at valid_until by itself: the cache must not outlive it.
            until = min(until, access.valid_until.timestamp())
        with self._lock:
            if until > now:
                self._checks[account_id] = (until, access)
                self._checks.move_to_end(account_id)
                while len(self._checks) > self._cache_size:
                    self._checks.popitem(last=False)
        return access

    def forget(self, account_id: str) -> None:
        """Drop the cached answer of one account (a change event said it changed)."""
        with self._lock:
            self._checks.pop(account_id, None)

    def forget_all(self) -> None:
        """Drop every cached answer."""
        with self._lock:
            self._checks.clear()
            self._policy = None

    def token(self, account_id: str, audience: str | None = None) -> IssuedToken:
        """Issue a signed token of the account's entitlements (scope tokens:issue)."""
        body = {} if audience is None else {"audience": audience}
        answer = self._call("POST", f"{self._account(account_id)}/tokens", body)
        return IssuedToken(str(answer["token"]), required_time(answer["expires_at"]))

    def handoff(
        self, account_id: str, *, next_page: str = "/subscribe", email: str | None = None
    ) -> Handoff:
        """Return a one-time URL signing the reader in to the subscriber pages."""
        body: dict[str, Any] = {"next": next_page}
        if email is not None:
            body["email"] = email
        answer = self._call("POST", f"{self._account(account_id)}/handoffs", body)
        return Handoff(str(answer["url"]), required_time(answer["expires_at"]))

    def policy(self) -> Policy:
        """Return the comment policy of GET /v1/policy (cached as its Cache-Control allows)."""
        now = self._clock()
        cached = self._policy
        if cached is not None and now < cached[0]:
            return cached[1]
        answer = self._exchange("GET", "/v1/policy", None, auth=False)
        policy = policy_from_json(self._json(answer))
        self._policy = (now + max_age(answer.headers.get("cache-control")), policy)
        return policy

    @staticmethod
    def _account(account_id: str) -> str:
        if not account_id:
            raise ValueError("account_id is empty")
        return f"/v1/accounts/{quote(account_id, safe='')}"

    def _call(self, method: str, path: str, body: object = None) -> Any:
        return self._json(self._exchange(method, path, body, auth=True))

    @staticmethod
    def _json(answer: _http.Response) -> Any:
        try:
            return json.loads(answer.body)
        except ValueError as error:
            raise errors.ApiError(
                answer.status, {"title": "not JSON", "detail": str(error)}
            ) from None

    def _exchange(self, method: str, path: str, body: object, *, auth: bool) -> _http.Response:
        """Send with retries on connection errors and 5xx only; raise for any error status."""
        headers = {"Accept": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self._key}"
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        url = self.base_url + path
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                answer = self._send(method, url, headers=headers, body=data, timeout=self.timeout)
            except OSError as error:
                if last:
                    raise errors.TransportError(f"{method} {url}: {error}") from error
            else:
                if answer.status < 400:
                    return answer
                # A 4xx will not change on a retry; a 5xx may be a restart or a failover.
                if answer.status < 500 or last:
                    raise errors.api_error(answer.status, _problem(answer))
            # Full jitter: clients that failed together do not retry together.
            self._sleep(self._jitter() * min(self._max_backoff, self._backoff * 2**attempt))
        raise AssertionError("unreachable")  # pragma: no cover


def _problem(answer: _http.Response) -> dict[str, Any]:
    """Return the problem+json body of an error answer, or one made from its status."""
    try:
        problem = json.loads(answer.body)
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        text = answer.body[:200].decode("utf-8", "replace")
        problem = {"title": f"HTTP {answer.status}", "status": answer.status, "detail": text}
    return problem
