"""Check the Coral Talk SSO settings: the shared HS256 secret and its optional key ID."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable

from .secret_key import SECRET_KEY_BITS, estimated_bits
from .values import ConfigError

# RFC 7518 section 3.2: an HS256 key at least as long as the hash (256 bits).
MIN_SECRET_LENGTH = 32
# Coral's secrets start so; the prefix is the same in every one and carries no entropy.
CORAL_PREFIX = "ssosec_"
# A letter of an English word carries about 2 bits (Shannon's estimate of printed English).
WORD_LETTER_BITS = 2.0
_WORD = re.compile(r"[A-Z]?[a-z]{4,}|[A-Z]{5,}")
_KEYBOARD_ROWS = ("1234567890-=", "qwertyuiop[]\\", "asdfghjkl;'", "zxcvbnm,./")
_KEYBOARD = {c: (row, col) for row, keys in enumerate(_KEYBOARD_ROWS) for col, c in enumerate(keys)}
# Coral shows key IDs like `bef233358308a104f5`; printable ASCII keeps the header plain.
_KID = re.compile(r"^[\x21-\x7e]{1,128}$")


def coral_sso(
    secret: str | None, kid: str | None, *, secret_key: str, production: bool
) -> tuple[str | None, str | None]:
    """Return the Coral SSO secret and key ID, or refuse them (never echoing the secret)."""
    if secret is None:
        if kid is not None:
            raise ConfigError(
                "ENTITLEMENTS_CORAL_SSO_KID is set without ENTITLEMENTS_CORAL_SSO_SECRET"
            )
        return None, None
    if len(secret) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"ENTITLEMENTS_CORAL_SSO_SECRET must be at least {MIN_SECRET_LENGTH} characters "
            "(copy the whole secret from Coral's admin)"
        )
    if any(c.isspace() or not c.isprintable() for c in secret):
        # Coral signs with the exact string, and generates none with a space or control: a
        # pasted newline, or a space where a line wrapped, would make every token fail.
        raise ConfigError(
            "ENTITLEMENTS_CORAL_SSO_SECRET holds spaces or control characters at its ends or "
            "inside (a copy-paste slip?)"
        )
    if secret == secret_key:
        # Coral's admins can read this secret; it must not also unlock our signing keys.
        raise ConfigError("ENTITLEMENTS_CORAL_SSO_SECRET must differ from ENTITLEMENTS_SECRET_KEY")
    if production and secret_bits(secret) < SECRET_KEY_BITS:
        raise ConfigError(
            "ENTITLEMENTS_CORAL_SSO_SECRET is too predictable for production (repeated, few "
            "distinct characters, a run like abc or qwerty, or words): use the secret Coral "
            "generates"
        )
    if kid is not None and not _KID.match(kid):
        raise ConfigError(
            "ENTITLEMENTS_CORAL_SSO_KID must be 1 to 128 printable ASCII characters, no spaces"
        )
    return secret, kid


def secret_bits(secret: str) -> float:
    """Estimate the entropy of a secret a person may have typed, more warily than SECRET_KEY's.

    The smallest of: the project's estimator (secret_key.estimated_bits), which scores a
    short string at about 8 bits a character whatever its alphabet; the alphabet's bound (a
    hex digit is 4 bits) with words at 2 bits a letter; and the estimator on the steps
    between neighbouring characters, in code order (abc, 0123) and on the keyboard (qwerty).
    A secret Coral generates (`ssosec_` and 64 hex digits) scores about 220 bits.
    """
    body = secret.removeprefix(CORAL_PREFIX)
    return min(
        estimated_bits(body),
        _alphabet_bits(body),
        estimated_bits(_steps(body, lambda c: (0, ord(c)))),
        estimated_bits(_steps(body, lambda c: _KEYBOARD.get(c.lower(), (9, ord(c))))),
    )


def _alphabet_bits(body: str) -> float:
    """Bits of `body` drawn at random from the smallest usual alphabet holding it."""
    if all(c in "0123456789abcdef" for c in body) or all(c in "0123456789ABCDEF" for c in body):
        size = 16
    else:
        size = sum(
            n
            for n, present in (
                (10, any(c.isdigit() for c in body)),
                (26, any(c.islower() for c in body)),
                (26, any(c.isupper() for c in body)),
                (32, any(not c.isalnum() for c in body)),
            )
            if present
        )
    per_char = math.log2(max(size, 2))
    in_words = sum(len(word) for word in _WORD.findall(body))
    return (len(body) - in_words) * per_char + in_words * min(WORD_LETTER_BITS, per_char)


def _steps(body: str, position: Callable[[str], tuple[int, int]]) -> str:
    """Return the steps between neighbouring characters, one character each (a run repeats)."""
    places = [position(c) for c in body]
    return "".join(
        chr(0x4000 + (b[0] - a[0]) * 0x100 + (b[1] - a[1]) % 0x100)
        for a, b in itertools.pairwise(places)
    )
