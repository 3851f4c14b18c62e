"""The parts of bench/sdk_verify.py: the local JWKS site, the throughput rounds, the kid flood."""
