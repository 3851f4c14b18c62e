"""Measure sign and verify cost of RS256, ES256 and EdDSA tokens with PyJWT.

Run: python bench/token_algorithms.py [--seconds 1.0]
Prints operations per second and the ratio to the fastest algorithm, measured in this run.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

CLAIMS = {
    "iss": "https://entitlements.example",
    "sub": "reader-42",
    "aud": "site",
    "iat": 1_700_000_000,
    "exp": 1_700_000_300,
    "jti": "b6f1c3d2e4a5",
    "features": ["ad_free", "archive", "comment", "digital_edition"],
    "plan": "plus",
}


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Return calls per second of fn over about `seconds`."""
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(50):
            fn()
        count += 50
    return count / elapsed


def main() -> None:
    """Print sign and verify rates for each algorithm."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    keys: dict[str, PrivateKey] = {
        "RS256": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ES256": ec.generate_private_key(ec.SECP256R1()),
        "EdDSA": ed25519.Ed25519PrivateKey.generate(),
    }
    results = {}
    for alg, key in keys.items():
        token = jwt.encode(CLAIMS, key, algorithm=alg)
        public = key.public_key()
        sign = rate(partial(jwt.encode, CLAIMS, key, algorithm=alg), args.seconds)
        verify = rate(
            partial(
                jwt.decode,
                token,
                public,
                algorithms=[alg],
                audience="site",
                options={"verify_exp": False},
            ),
            args.seconds,
        )
        results[alg] = (sign, verify, len(token))
    best_verify = max(v for _, v, _ in results.values())
    best_sign = max(s for s, _, _ in results.values())
    print(
        f"{'alg':6} {'sign/s':>10} {'verify/s':>10} {'verify ratio':>13}"
        f" {'sign ratio':>11} {'bytes':>6}"
    )
    for alg, (sign, verify, size) in results.items():
        print(
            f"{alg:6} {sign:10.0f} {verify:10.0f} {verify / best_verify:13.2f}"
            f" {sign / best_sign:11.2f} {size:6d}"
        )


if __name__ == "__main__":
    main()
