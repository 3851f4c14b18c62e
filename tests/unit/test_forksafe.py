"""What a forked child renews: the Stripe HTTP client, the key ring's lock, any registered owner."""

from __future__ import annotations

import gc
import os
import weakref
from collections.abc import Callable

from entitlements.billing.stripe_gateway import StripeGateway
from entitlements.forksafe import renew_after_fork
from entitlements.tokens.keys import KeyRing


def in_child(check: Callable[[], bool]) -> bool:
    """Fork, run `check` in the child, and return what it answered."""
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked child, which coverage does not see
        code = 1
        try:
            code = 0 if check() else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status) == 0


class Owner:
    renewed = 0

    def renew(self) -> None:
        self.renewed += 1


def test_a_registered_owner_is_renewed_in_the_child_and_not_in_the_parent() -> None:
    owner = Owner()
    renew_after_fork(owner, Owner.renew)
    assert in_child(lambda: owner.renewed == 1)
    assert owner.renewed == 0


def test_registration_does_not_keep_its_owner_alive() -> None:
    owner = Owner()
    renew_after_fork(owner, Owner.renew)
    ref = weakref.ref(owner)
    del owner
    gc.collect()
    assert ref() is None
    assert in_child(lambda: True)  # the dead owner's callback does nothing, and fails nothing


def test_the_stripe_client_and_its_connections_are_the_childs_own() -> None:
    gateway = StripeGateway("sk_test_x", "http://127.0.0.1:9")
    parents = gateway._client
    assert in_child(lambda: gateway._client is not parents)
    assert gateway._client is parents


def test_the_key_rings_lock_is_new_in_the_child() -> None:
    ring = KeyRing("s" * 40)
    parents = ring._lock
    parents.acquire()  # as if another thread held it at the fork
    try:
        assert in_child(lambda: ring._lock is not parents and ring._lock.acquire(timeout=1))
    finally:
        parents.release()
