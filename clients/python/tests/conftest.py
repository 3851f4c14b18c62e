"""Fixtures: a local JWKS server, a signing key and a verifier on a fixed clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from entitlements_client import TokenVerifier
from forge import AUDIENCE, ISSUER, NOW, Site, local_site, new_key, public_jwk


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def key() -> ec.EllipticCurvePrivateKey:
    return new_key()


@pytest.fixture
def site(key: ec.EllipticCurvePrivateKey) -> Iterator[Site]:
    with local_site() as served:
        served.serve_jwks(public_jwk(key))
        yield served


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def verifier(site: Site, clock: Clock) -> TokenVerifier:
    return TokenVerifier(
        f"{site.url}/jwks.json", ISSUER, AUDIENCE, clock=clock, monotonic=clock, timeout=2
    )
