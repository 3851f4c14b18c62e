"""EntitlementsClient against a scripted loopback server: retries, timeouts, errors, cache."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from entitlements_client import EntitlementsClient, errors

NOW = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)
PROBLEM = "application/problem+json"


@dataclass
class Answer:
    status: int
    body: object
    content_type: str = "application/json"
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Scripted:
    """A loopback server answering from a script (the last answer repeats)."""

    url: str = ""
    script: list[Answer] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def api() -> Iterator[Scripted]:
    scripted = Scripted()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            scripted.requests.append((self.command, self.path, dict(self.headers), body))
            answer = scripted.script.pop(0) if len(scripted.script) > 1 else scripted.script[0]
            time.sleep(answer.delay)
            data = json.dumps(answer.body).encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            # A client that timed out has closed the socket: that is the test, not an error.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)

        do_GET = do_POST = _answer  # noqa: N815  (http.server's naming)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    scripted.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield scripted
    server.shutdown()
    server.server_close()
    thread.join()


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(
    api: Scripted,
    sleeps: Sleeps | None = None,
    *,
    clock: Callable[[], float] = NOW.timestamp,
    **options: Any,
) -> EntitlementsClient:
    return EntitlementsClient(
        api.url,
        "ent_sk_test",
        sleep=sleeps if sleeps is not None else Sleeps(),
        jitter=lambda: 1.0,
        clock=clock,
        **options,
    )


def check_body(valid_until: datetime | None = None, features: list[str] | None = None) -> object:
    return {
        "account_id": "reader-1",
        "features": ["comment"] if features is None else features,
        "plan": "digital",
        "sources": [{"feature": "comment", "source": "subscription", "ends_at": None}],
        "restrictions": [],
        "valid_until": None if valid_until is None else valid_until.isoformat(),
    }


def problem(status: int, detail: str) -> Answer:
    body = {"type": "about:blank", "title": "t", "status": status, "detail": detail}
    return Answer(status, body, PROBLEM)


def test_check_sends_the_service_key_and_returns_typed_access(api: Scripted) -> None:
    until = NOW + timedelta(days=3)
    api.script = [Answer(200, check_body(until))]
    access = client(api).check("reader/1")
    assert access.has("comment")
    assert access.plan == "digital"
    assert access.valid_until == until
    assert access.sources[0].source == "subscription"
    method, path, headers, _ = api.requests[0]
    assert (method, path) == ("GET", "/v1/accounts/reader%2F1/entitlements")
    assert headers["Authorization"] == "Bearer ent_sk_test"


def test_5xx_is_retried_with_growing_jittered_backoff(api: Scripted) -> None:
    api.script = [problem(503, "down"), problem(502, "down"), Answer(200, check_body())]
    sleeps = Sleeps()
    assert client(api, sleeps, retries=2, backoff=0.1).check("reader-1").has("comment")
    assert len(api.requests) == 3
    assert sleeps == [0.1, 0.2]


def test_retries_are_bounded_and_end_in_a_typed_error(api: Scripted) -> None:
    api.script = [problem(503, "database down")]
    with pytest.raises(errors.ServerError) as caught:
        client(api, retries=3).check("reader-1")
    assert len(api.requests) == 4
    assert caught.value.status == 503
    assert caught.value.problem["detail"] == "database down"
    assert caught.value.code == "server_error"


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, errors.BadRequestError),
        (401, errors.UnauthorizedError),
        (403, errors.ForbiddenError),
        (404, errors.NotFoundError),
        (422, errors.BadRequestError),
        (429, errors.ApiError),
    ],
)
def test_4xx_is_never_retried(api: Scripted, status: int, kind: type[errors.ApiError]) -> None:
    api.script = [problem(status, "no"), Answer(200, check_body())]
    with pytest.raises(kind) as caught:
        client(api, retries=3).check("reader-1")
    assert len(api.requests) == 1
    assert caught.value.problem == {
        "type": "about:blank",
        "title": "t",
        "status": status,
        "detail": "no",
    }


def test_connection_errors_are_retried_then_raised() -> None:
    sleeps = Sleeps()
    unreachable = EntitlementsClient(
        "http://127.0.0.1:9", "k", retries=2, sleep=sleeps, jitter=lambda: 0.5
    )
    with pytest.raises(errors.TransportError) as caught:
        unreachable.check("reader-1")
    assert caught.value.code == "unavailable"
    assert len(sleeps) == 2


def test_timeout_is_a_connection_error(api: Scripted) -> None:
    api.script = [Answer(200, check_body(), delay=0.5)]
    started = time.monotonic()
    with pytest.raises(errors.TransportError):
        client(api, timeout=0.1, retries=1).check("reader-1")
    assert time.monotonic() - started < 1.5
    assert len(api.requests) == 2


def test_error_without_problem_json_still_raises_typed(api: Scripted) -> None:
    api.script = [Answer(502, "<html>bad gateway</html>", "text/html")]
    with pytest.raises(errors.ServerError) as caught:
        client(api, retries=0).check("reader-1")
    assert caught.value.problem["status"] == 502


def test_check_cache_never_outlives_valid_until(api: Scripted) -> None:
    now = [NOW.timestamp()]
    api.script = [Answer(200, check_body(NOW + timedelta(seconds=10))), Answer(200, check_body())]
    gateway = client(api, clock=lambda: now[0], cache_ttl=60)
    gateway.check("reader-1")
    now[0] += 9
    gateway.check("reader-1")
    assert len(api.requests) == 1
    now[0] += 1  # valid_until reached: the answer may have changed
    gateway.check("reader-1")
    assert len(api.requests) == 2


def test_check_cache_lasts_the_ttl_and_is_dropped_by_forget(api: Scripted) -> None:
    now = [NOW.timestamp()]
    api.script = [Answer(200, check_body())]
    gateway = client(api, clock=lambda: now[0], cache_ttl=60)
    gateway.check("reader-1")
    gateway.check("reader-1")
    assert len(api.requests) == 1
    gateway.forget("reader-1")
    gateway.check("reader-1")
    assert len(api.requests) == 2
    now[0] += 61
    gateway.check("reader-1")
    assert len(api.requests) == 3
    gateway.check("reader-1", fresh=True)
    assert len(api.requests) == 4


def test_an_answer_already_past_valid_until_is_not_cached(api: Scripted) -> None:
    api.script = [Answer(200, check_body(NOW - timedelta(seconds=1)))]
    gateway = client(api)
    gateway.check("reader-1")
    gateway.check("reader-1")
    assert len(api.requests) == 2


def test_cache_is_bounded(api: Scripted) -> None:
    api.script = [Answer(200, check_body())]
    gateway = client(api, cache_size=2)
    for account in ("a", "b", "c", "a"):
        gateway.check(account)
    assert len(api.requests) == 4  # "a" was evicted by "c"


def test_token_and_handoff(api: Scripted) -> None:
    expires = "2027-01-15T12:05:00Z"
    api.script = [
        Answer(201, {"token": "a.b.c", "expires_at": expires}),
        Answer(201, {"url": "https://e.test/h/1", "expires_at": expires}),
    ]
    gateway = client(api)
    issued = gateway.token("reader-1", audience="comments")
    assert issued.token == "a.b.c"
    assert issued.expires_at == NOW + timedelta(minutes=5)
    handoff = gateway.handoff("reader-1", next_page="/account", email="r@magazine.test")
    assert handoff.url == "https://e.test/h/1"
    (m1, p1, _, b1), (m2, p2, _, b2) = api.requests
    assert (m1, p1, json.loads(b1)) == (
        "POST",
        "/v1/accounts/reader-1/tokens",
        {"audience": "comments"},
    )
    assert (m2, p2, json.loads(b2)) == (
        "POST",
        "/v1/accounts/reader-1/handoffs",
        {"next": "/account", "email": "r@magazine.test"},
    )


def test_token_without_audience_asks_for_the_default(api: Scripted) -> None:
    api.script = [Answer(201, {"token": "a.b.c", "expires_at": "2027-01-15T12:05:00Z"})]
    client(api).token("reader-1")
    assert json.loads(api.requests[0][3]) == {}


def test_policy_is_read_without_the_key_and_cached(api: Scripted) -> None:
    body = {
        "comment_edit_window_seconds": 300,
        "grandfather_cutoff": None,
        "grandfather_until": "2027-03-01T00:00:00Z",
    }
    api.script = [Answer(200, body, headers={"Cache-Control": "public, max-age=300"})]
    gateway = client(api)
    policy = gateway.policy()
    assert policy.comment_edit_window == timedelta(minutes=5)
    assert policy.grandfather_until == datetime(2027, 3, 1, tzinfo=UTC)
    assert gateway.policy() == policy
    assert len(api.requests) == 1
    assert "Authorization" not in api.requests[0][2]


def test_base_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="http"):
        EntitlementsClient("file:///etc/passwd", "k")
