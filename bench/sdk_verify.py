"""The Python SDK's token verification: its throughput against jwt.decode, and its JWKS fetches
under a flood of tokens with unknown kids.

Run from the checkout, with the project's virtualenv (no service, no database needed):

    .venv/bin/python bench/sdk_verify.py              # 6 rounds of 2 s per target; 130 s flood
    .venv/bin/python bench/sdk_verify.py --smoke      # short rounds; 2 s flood at 90x, < 10 s
    .venv/bin/python bench/sdk_verify.py --only verify --rounds 10 --profile 5000

What it does:

1. serves a fresh ES256 key's JWKS from a thread on 127.0.0.1 (http.server, counting every
   request; `Cache-Control: public, max-age=60`), signs a token shaped as the service issues it
   (`alg` ES256, `kid`, `typ: entitlements+jwt`; iss, sub, aud, iat, exp, jti, features, plan);
2. verify: checks that `TokenVerifier.verify` (its JWKS cache warmed first) and a raw
   `jwt.decode` (PyJWT, same public key, exact issuer, audience, exp/iat/iss/aud/sub required)
   read the same claims, then times both in interleaved rounds (even rounds reversed), and
   prints verifies per CPU second and per wall second and the ratio; the target is the SDK at
   >= 0.90 x jwt.decode per CPU second. `--profile N` (or a missed target) then profiles N
   SDK verifies with cProfile and prints the hot spots;
3. flood: threads sharing one new verifier send 1000 tokens/s for --flood-seconds of real time,
   each signed by an attacker's key under a random kid, and every 50th a genuine token that must
   still verify; the JWKS server's request count must stay <= 1 + floor(span / 60 s), the span
   running from the initial fetch. A smoke run hands the verifier a clock 90x faster than real
   time (its `monotonic` parameter), so 2 s of flood cover 3 minutes; a full run never does.

Exit status: 0 when every answer was right and, outside --smoke, both targets are met; 1 when
the SDK and jwt.decode disagreed, a genuine token was refused, a forged one was not refused as
an unknown kid, or the setup failed; 3 when a target was missed (never in --smoke).
"""

from __future__ import annotations

import argparse
import sys
import time

from entitlements_client import TokenVerifier
from sdk_verify_scenario import flood, throughput
from sdk_verify_scenario.site import AUDIENCE, ISSUER, JwksSite
from support.machine import machine_info, print_machine
from support.outcome import EXIT_BELOW_TARGET, EXIT_ERRORS, EXIT_OK, run_guarded

PACKAGES = ("entitlements-client", "PyJWT", "cryptography")
SMOKE_SPEED = 90.0  # 2 s of smoke flood on the verifier's clock: 3 minutes


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line; fill the defaults that depend on --smoke."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--seconds", type=float, help="time per target and round (default 2; smoke 0.2)")
    add("--rounds", type=int, help="interleaved rounds, an even number (default 6; smoke 2)")
    add("--flood-seconds", type=float, help="real time of the flood (default 130; smoke 2)")
    add("--rate", type=float, default=1000.0, help="flood tokens per second (default 1000)")
    add("--threads", type=int, default=4, help="threads sharing the verifier (default 4)")
    add("--speed", type=float, help=f"verifier clock speed-up, smoke only (smoke {SMOKE_SPEED:g})")
    add("--profile", type=int, default=0, help="then profile N SDK verifies (auto if BELOW)")
    add("--only", choices=("verify", "flood"), help="run one part only")
    add("--smoke", action="store_true", help="short run that proves it works; judges nothing")
    args = parser.parse_args(argv)
    smoke = args.smoke
    args.seconds = args.seconds if args.seconds is not None else (0.2 if smoke else 2.0)
    args.rounds = args.rounds if args.rounds is not None else (2 if smoke else 6)
    if args.flood_seconds is None:
        args.flood_seconds = 2.0 if smoke else 130.0
    if args.speed is None:
        args.speed = SMOKE_SPEED if smoke else 1.0
    elif args.speed != 1 and not smoke:
        parser.error("--speed is for --smoke only: a full run floods in real time")
    if args.seconds <= 0 or args.flood_seconds <= 0 or args.rate <= 0 or args.speed < 1:
        parser.error("--seconds, --flood-seconds and --rate must be positive, --speed >= 1")
    if args.rounds < 1 or args.threads < 1 or args.profile < 0:
        parser.error("--rounds and --threads must be at least 1, --profile not negative")
    return args


def run(args: argparse.Namespace) -> int:
    """Run the chosen parts and print their results; return the exit status."""
    started = time.monotonic()
    print("== sdk_verify" + (" (smoke run)" if args.smoke else ""))
    info = machine_info("", PACKAGES)
    del info["postgresql"]  # no database in this benchmark
    print_machine(info)
    met = True
    with JwksSite() as site:
        if args.only in (None, "verify"):
            print(f"== verify: {args.rounds} rounds of {args.seconds:g} s per target", flush=True)
            verifier = TokenVerifier(site.url, ISSUER, AUDIENCE)
            fns = throughput.targets(site, verifier, site.token())
            measured, other = throughput.measure(fns, rounds=args.rounds, seconds=args.seconds)
            verify_met = throughput.report(measured, other, smoke=args.smoke)
            if args.profile or (not verify_met and not args.smoke):
                throughput.profile(fns["TokenVerifier"], args.profile or 5000)
            met = met and verify_met
        if args.only in (None, "flood"):
            print(
                f"== flood: {args.rate:g} tokens/s with random kids for"
                f" {args.flood_seconds:g} s, {args.threads} threads",
                flush=True,
            )
            result = flood.flood(
                site,
                seconds=args.flood_seconds,
                rate=args.rate,
                threads=args.threads,
                speed=args.speed,
            )
            opts = {"rate": args.rate, "threads": args.threads, "speed": args.speed}
            met = flood.report(result, **opts, smoke=args.smoke) and met
            if result.failures:
                print(f"FAILED: {len(result.failures)} wrong answer(s)", file=sys.stderr)
                return EXIT_ERRORS
    print(f"total time {time.monotonic() - started:.1f} s")
    return EXIT_OK if met or args.smoke else EXIT_BELOW_TARGET


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the benchmark; return the exit status."""
    args = parse_args(argv)
    return run_guarded(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
