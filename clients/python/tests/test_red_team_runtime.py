"""Red-team findings on the SDK's moving parts (3, 5, 6, 10, 11): HTTP deadlines, the JWKS
cache's lock, retry and limits, the Cache-Control parser and the Flask answers."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask

from conftest import Clock
from entitlements_client import TokenVerifier, errors
from entitlements_client._http import MAX_BODY, Response, send
from entitlements_client.flask import requires_feature, use_verifier
from entitlements_client.jwks import max_age
from forge import AUDIENCE, ISSUER, NOW, Site, claims, es256, header, new_key, public_jwk

# --- finding 3: a deadline for the whole HTTP exchange; no fetch under the cache's lock ---


@contextmanager
def dripping_server(head: bytes, body: bytes, pause: float) -> Iterator[str]:
    """Answer every request with `head` then `body`, one byte every `pause` seconds."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                try:
                    for byte in head + body:
                        if stop.wait(pause):
                            break
                        conn.sendall(bytes([byte]))
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/jwks.json"
    finally:
        stop.set()
        thread.join()
        listener.close()


@pytest.mark.parametrize("length", [True, False])
def test_a_dripping_body_is_cut_at_the_deadline(length: bool) -> None:
    body = b'{"keys": []}' * 10
    head = b"HTTP/1.1 200 OK\r\n" + (b"Content-Length: %d\r\n" % len(body) if length else b"")
    with dripping_server(head + b"\r\n", body, 0.05) as url:
        start = time.monotonic()
        with pytest.raises(OSError, match="within 1 s"):
            send("GET", url, timeout=1.0)  # each byte arrives well within the socket timeout
        assert time.monotonic() - start < 2


def test_dripping_headers_are_cut_at_the_deadline() -> None:
    with dripping_server(b"HTTP/1.1 200 OK\r\n" + b"X-Slow: y\r\n" * 100, b"", 0.05) as url:
        start = time.monotonic()
        with pytest.raises(OSError, match="within 1 s"):
            send("GET", url, timeout=1.0)
        assert time.monotonic() - start < 2


def test_a_dripping_jwks_blocks_verify_for_the_timeout_only(clock: Clock) -> None:
    with dripping_server(
        b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n", b" " * 500, 0.05
    ) as url:
        verifier = TokenVerifier(url, ISSUER, AUDIENCE, timeout=1, clock=clock, monotonic=clock)
        start = time.monotonic()
        with pytest.raises(errors.JwksUnavailableError):
            verifier.verify(es256(new_key(), header(), claims()))
        assert time.monotonic() - start < 2


class SlowJwks:
    """A fetch that answers the first call at once and holds the next ones until released."""

    def __init__(self, *jwks: dict[str, str]) -> None:
        self.body = json.dumps({"keys": list(jwks)}).encode()
        self.calls = 0
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self, url: str, timeout: float) -> Response:
        self.calls += 1
        if self.calls > 1:
            self.started.set()
            assert self.release.wait(10)
        return Response(200, {"cache-control": "max-age=300"}, self.body)


def test_a_slow_refresh_holds_no_one_with_a_cached_key(
    key: ec.EllipticCurvePrivateKey, clock: Clock
) -> None:
    rotated = new_key()
    fetch = SlowJwks(public_jwk(key), public_jwk(rotated, "key-2"))
    verifier = TokenVerifier(
        "http://jwks.test/jwks.json", ISSUER, AUDIENCE, clock=clock, monotonic=clock, fetch=fetch
    )
    token = es256(key, header(), claims(exp=int(NOW) + 100_000))
    assert verifier.verify(token)
    fetch.body = json.dumps({"keys": [public_jwk(key), public_jwk(rotated, "key-3")]}).encode()
    clock.now += 301  # stale: the next verify refreshes
    refresher = threading.Thread(target=verifier.verify, args=(token,))
    refresher.start()
    assert fetch.started.wait(5)
    # While the refresh hangs, the known kid verifies at once (the old code waited on the lock).
    start = time.monotonic()
    for _ in range(20):
        assert verifier.verify(token).account_id == "reader-1"
    assert time.monotonic() - start < 1
    # An unknown kid waits for the fetch under way, and sees its keys.
    outcome: list[str] = []
    newcomer = es256(rotated, header(kid="key-3"), claims(exp=int(NOW) + 100_000))
    waiter = threading.Thread(target=lambda: outcome.append(verifier.verify(newcomer).plan or ""))
    waiter.start()
    time.sleep(0.1)
    assert not outcome
    fetch.release.set()
    refresher.join()
    waiter.join()
    assert outcome == ["digital"]
    assert fetch.calls == 2


def test_callers_waiting_for_a_hung_fetch_give_up_after_the_timeout(
    key: ec.EllipticCurvePrivateKey, clock: Clock
) -> None:
    fetch = SlowJwks(public_jwk(key))
    fetch.calls = 1  # the very first fetch hangs too
    verifier = TokenVerifier(
        "http://jwks.test/jwks.json",
        ISSUER,
        AUDIENCE,
        timeout=0.3,
        clock=clock,
        monotonic=clock,
        fetch=fetch,
    )
    token = es256(key, header(), claims())
    first = threading.Thread(target=verifier.verify, args=(token,))
    first.start()
    assert fetch.started.wait(5)
    start = time.monotonic()
    with pytest.raises(errors.JwksUnavailableError):
        verifier.verify(token)  # the old code queued on the lock until the fetch ended
    assert time.monotonic() - start < 3
    fetch.release.set()
    first.join()
    assert verifier.verify(token).account_id == "reader-1"


# --- finding 5: while no JWKS was ever fetched, retry after 5 s, not a minute ---


def test_a_start_up_outage_is_retried_after_five_seconds(
    key: ec.EllipticCurvePrivateKey, clock: Clock
) -> None:
    up = False
    calls = 0

    def fetch(url: str, timeout: float) -> Response:
        nonlocal calls
        calls += 1
        if not up:
            raise OSError("connection refused")
        return Response(200, {}, json.dumps({"keys": [public_jwk(key)]}).encode())

    verifier = TokenVerifier(
        "http://jwks.test/j", ISSUER, AUDIENCE, clock=clock, monotonic=clock, fetch=fetch
    )
    token = es256(key, header(), claims(exp=int(NOW) + 100_000))
    start = clock.now
    with pytest.raises(errors.JwksUnavailableError):
        verifier.verify(token)
    up = True
    clock.now = start + 4
    with pytest.raises(errors.JwksUnavailableError):
        verifier.verify(token)
    assert calls == 1
    clock.now = start + 5
    assert verifier.verify(token).account_id == "reader-1"
    assert calls == 2
    # Once keys are cached, an outage of a stale cache is retried once a minute again.
    up = False
    clock.now = start + 5 + 301
    assert verifier.verify(token)
    clock.now += 30
    assert verifier.verify(token)
    assert calls == 3


# --- finding 6: the Flask helper answers a JWKS outage with 503, as the Node middleware ---


@pytest.fixture
def gated() -> Flask:
    app = Flask(__name__)

    @app.get("/c")
    @requires_feature("comment")
    def view() -> str:
        return "ok"

    return app


def test_jwks_outage_is_503_with_retry_after(gated: Flask, clock: Clock) -> None:
    down = TokenVerifier(
        "http://127.0.0.1:9/jwks.json", ISSUER, AUDIENCE, clock=clock, monotonic=clock
    )  # nothing listens on port 9
    use_verifier(gated, down)
    token = es256(new_key(), header(), claims())
    answer = gated.test_client().get("/c", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 503
    assert answer.json is not None
    assert answer.json["code"] == "jwks_unavailable"
    assert answer.headers["Retry-After"] == "5"
    assert answer.headers["Cache-Control"] == "no-store"
    assert "WWW-Authenticate" not in answer.headers


def test_401_headers_say_whether_a_token_was_sent(gated: Flask, verifier: TokenVerifier) -> None:
    use_verifier(gated, verifier)
    browser = gated.test_client()
    missing = browser.get("/c")
    assert missing.headers["WWW-Authenticate"] == "Bearer"  # RFC 6750: no error without a token
    assert missing.headers["Cache-Control"] == "no-store"
    invalid = browser.get("/c", headers={"Authorization": "Bearer a.b.c"})
    assert invalid.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert invalid.headers["Cache-Control"] == "no-store"


def test_header_and_cookie_precedence(
    gated: Flask, verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey
) -> None:
    use_verifier(gated, verifier, cookie="ent")
    browser = gated.test_client()
    good = es256(key, header(), claims())
    browser.set_cookie("ent", "forged")
    assert browser.get("/c", headers={"Authorization": f"Bearer {good}"}).status_code == 200
    browser.set_cookie("ent", good)
    # An invalid bearer token does not fall back to the cookie; another scheme does.
    assert browser.get("/c", headers={"Authorization": "Bearer garbage"}).status_code == 401
    assert browser.get("/c", headers={"Authorization": "Basic Zm9vOmJhcg=="}).status_code == 200


# --- finding 10: the shared JWKS reading rules ---


def jwks_verifier(site: Site, clock: Clock) -> TokenVerifier:
    return TokenVerifier(f"{site.url}/jwks.json", ISSUER, AUDIENCE, clock=clock, monotonic=clock)


def test_duplicate_kids_keep_the_first_usable_key(
    site: Site, clock: Clock, key: ec.EllipticCurvePrivateKey
) -> None:
    other = new_key()
    private = {**public_jwk(other), "d": "AAAA"}
    off_curve = {**public_jwk(other), "y": public_jwk(other)["x"]}
    site.serve_jwks(private, off_curve, public_jwk(key), public_jwk(other))
    verifier = jwks_verifier(site, clock)
    assert verifier.verify(es256(key, header(), claims())).account_id == "reader-1"
    with pytest.raises(errors.BadSignatureError):
        verifier.verify(es256(other, header(), claims()))


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi", "oth", "k"])
def test_a_jwk_with_private_members_is_skipped(
    site: Site, clock: Clock, key: ec.EllipticCurvePrivateKey, member: str
) -> None:
    site.serve_jwks({**public_jwk(key), member: "AAAA"})
    with pytest.raises(errors.UnknownKeyError):
        jwks_verifier(site, clock).verify(es256(key, header(), claims()))


def test_only_the_first_hundred_entries_are_read(
    site: Site, clock: Clock, key: ec.EllipticCurvePrivateKey
) -> None:
    fillers = [public_jwk(new_key(), f"filler-{n}") for n in range(99)]
    site.serve_jwks(*fillers, public_jwk(key, "hundredth"), public_jwk(key, "hundred-first"))
    verifier = jwks_verifier(site, clock)
    assert verifier.verify(es256(key, header(kid="hundredth"), claims()))
    with pytest.raises(errors.UnknownKeyError):
        verifier.verify(es256(key, header(kid="hundred-first"), claims()))


@pytest.mark.parametrize(("pad", "accepted"), [(300 * 1024, True), (MAX_BODY, False)])
def test_jwks_documents_up_to_one_mebibyte(
    site: Site, clock: Clock, key: ec.EllipticCurvePrivateKey, pad: int, accepted: bool
) -> None:
    site.serve_jwks(public_jwk(key))
    site.body = json.dumps({"keys": [public_jwk(key)], "pad": "z" * pad}).encode()
    verifier = jwks_verifier(site, clock)
    token = es256(key, header(), claims())
    if accepted:
        assert verifier.verify(token)
    else:
        with pytest.raises(errors.JwksUnavailableError):
            verifier.verify(token)


# --- finding 11 (Cache-Control half): one strict max-age parser ---


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("max-age=100", 100),
        ("MAX-AGE=100", 100),
        ("public, max-age=100", 100),
        (" max-age=120 ", 120),
        ("max-age = 100", 300),
        ('max-age="100"', 300),
        ("max-age=100abc", 300),
        ("max-age=-5", 300),
        ("max-age=", 300),
        ("max-age=\u0661\u0662\u0663", 300),
        ("s-maxage=100", 300),
        ("max-age=0", 60),
        ("max-age=99999999999999999999", 86400),
        ("max-age=100, max-age=5000", 100),
        ('private="x,max-age=5000"', 300),
        ('no-cache="set-cookie", max-age=900', 60),
        ("max-age=3600, NO-STORE", 60),
        ("", 300),
    ],
)
def test_max_age_follows_the_shared_rule(value: str, seconds: int) -> None:
    assert max_age(value) == seconds
