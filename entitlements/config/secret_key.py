"""The secret key: how strong production needs it, and the development one kept on disk."""

from __future__ import annotations

import math
import os
from collections import Counter

# A production secret key must carry at least this much estimated entropy (see estimated_bits).
SECRET_KEY_BITS = 128


def estimated_bits(text: str) -> float:
    """Estimate a secret's entropy: the smaller of its length times the Shannon entropy of its
    characters (few distinct characters) and the bits zlib needs for it (repeated patterns).

    One repeated character or 32 spaces score 0 bits, "ab" * 16 scores 32, "0123" * 16 about
    50; 43 characters of `secrets.token_urlsafe(32)` score about 200.
    """
    import zlib

    shannon = sum(count * math.log2(len(text) / count) for count in Counter(text).values())
    empty = len(zlib.compress(b"", 9))
    compressed = 8 * (len(zlib.compress(text.encode("utf-8"), 9)) - empty)
    return min(shannon, compressed)


def development_secret(instance_path: str) -> str:
    """Return the development secret kept in the instance folder, creating it once."""
    import secrets

    path = os.path.join(instance_path, "secret_key")
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read().strip()
    except FileNotFoundError:
        pass
    os.makedirs(instance_path, exist_ok=True)
    value = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting at once agree on one secret.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(path, encoding="ascii") as handle:
            return handle.read().strip()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(value)
    return value
