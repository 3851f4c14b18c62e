"""Change events for real: `entitlements webhooks work` processes beside `entitlements serve`
on PostgreSQL, a local receiver using the Python SDK's EventReceiver."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from entitlements.migrate import upgrade
from entitlements_client import EntitlementsClient, EventReceiver, TokenVerifier, errors
from tests.conftest import _create_postgres_database, _drop_postgres_database
from tests.support.receiver import Received, receiver
from tests.support.serve import ENTRY_POINT, cli, create_key, production_env, request, serve

ISSUER = "https://entitlements.magazine.test"
READER = "reader-1"

pytestmark = pytest.mark.slow


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Production settings on a fresh PostgreSQL database."""
    database_url = _create_postgres_database()
    try:
        upgrade(database_url)
        yield production_env(
            database_url, tmp_path / "instance", ENTITLEMENTS_TOKEN_AUDIENCES="site,comments"
        )
    finally:
        _drop_postgres_database(database_url)


@contextmanager
def worker(env: dict[str, str], folder: Path, name: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run `entitlements webhooks work` until the block ends (or the test kills it)."""
    log = (folder / f"{name}.log").open("wb")
    process = subprocess.Popen(
        [ENTRY_POINT, "webhooks", "work", "--poll", "0.1"], env=env, stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        log.close()
    assert "Traceback" not in (folder / f"{name}.log").read_text()


def add_endpoint(env: dict[str, str], url: str) -> str:
    return cli(env, "webhooks", "add", url).splitlines()[-1].split()[-1]


def test_nothing_is_lost_when_a_worker_dies_mid_delivery(
    env: dict[str, str], tmp_path: Path
) -> None:
    with receiver() as site:
        site.stall = threading.Event()
        add_endpoint(env, site.url)
        cli(env, "grants", "add", READER, "--feature", "comment", "--reason", "e2e")
        with worker(env, tmp_path, "first") as first:
            (stalled,) = site.wait_for(1)
            os.kill(first.pid, signal.SIGKILL)  # mid-delivery: no answer recorded
            first.wait(timeout=10)
        site.stall.set()
        site.stall = None
        with worker(env, tmp_path, "second"):
            again = site.wait_for(2)[1]
            deadline = time.monotonic() + 10
            while "delivered" not in cli(env, "webhooks", "deliveries"):
                assert time.monotonic() < deadline, cli(env, "webhooks", "deliveries")
                time.sleep(0.1)
        # The same message again (receivers deduplicate by webhook-id), never a lost one.
        assert again.headers["webhook-id"] == stalled.headers["webhook-id"]
        assert json.loads(again.body)["data"]["account_id"] == READER


def test_a_ban_refuses_older_tokens_at_a_real_receiver_within_5_seconds(
    env: dict[str, str], tmp_path: Path
) -> None:
    cli(env, "signing-keys", "rotate")
    issuer_key = create_key(env, "comments", "tokens:issue", "entitlements:read")
    admin_key = create_key(env, "moderation", "admin")
    cli(env, "grants", "add", READER, "--feature", "comment", "--reason", "e2e")
    with serve(env, tmp_path, workers=1) as served, receiver() as site:
        verifier = TokenVerifier(f"{served.url}/.well-known/jwks.json", ISSUER, "comments")
        secret = add_endpoint(env, site.url)
        events = EventReceiver(secret, verifier=verifier)
        applied: list[tuple[Received, float]] = []

        def apply(got: Received) -> int:
            event = events.receive(got.headers, got.body)
            applied.append((got, time.time()))
            return 204 if event.account_id == READER else 400

        site.on_request = apply
        client = EntitlementsClient(served.url, issuer_key, timeout=10, retries=1)
        old = client.token(READER, audience="comments").token
        assert verifier.verify(old).has("comment")
        with worker(env, tmp_path, "worker"):
            # (The grant came before the endpoint: the ban's is the only event it gets.)
            status, body = request(
                served.url, "POST", "/v1/admin/bans", admin_key,
                {"account_id": READER, "feature": "comment", "reason": "e2e: revocation"},
            )
            committed = time.time()  # the answer comes after the commit
            assert status == 201, body
            site.wait_for(1, timeout=5)
            deadline = committed + 5
            while not applied and time.time() < deadline:
                time.sleep(0.01)
        assert len(applied) == 1
        assert applied[0][1] - committed < 5
        # Seen with `pytest -s`: how long from the commit to the receiver applying it.
        sys.stderr.write(f"\nban to receiver: {applied[0][1] - committed:.3f} s\n")
        with pytest.raises(errors.RevokedError):
            verifier.verify(old)
        # A token issued after the ban's second carries the ban, and verifies.
        time.sleep(max(0.0, json.loads(applied[0][0].body)["data"]["not_before"] - time.time()))
        fresh = verifier.verify(client.token(READER, audience="comments").token)
        assert not fresh.has("comment")
