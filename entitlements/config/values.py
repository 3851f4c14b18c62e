"""Parse and check one setting's value; a refusal is a ConfigError naming the variable."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*([0-9]+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
# No setting needs more; a bound here keeps timedelta and int() from raising anything but
# ValueError on values such as 99999999999d.
_LONGEST = timedelta(days=3650)


class ConfigError(RuntimeError):
    """Raised when configuration is missing or invalid; the message says what to set."""


def parse_duration(text: str) -> timedelta:
    """Parse `300`, `300s`, `15m`, `48h` or `7d` into a timedelta."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 300s, 15m, 48h or 7d")
    digits = match.group(1).lstrip("0")
    if len(digits) > 12 or int(digits or 0) * _UNITS[match.group(2)] > _LONGEST.total_seconds():
        raise ValueError(f"{text.strip()[:40]!r} is out of range (at most 3650d)")
    return timedelta(seconds=int(digits or 0) * _UNITS[match.group(2)])


def parse_list(text: str) -> tuple[str, ...]:
    """Parse a comma-separated list, dropping empty items."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def parse_hops(text: str) -> int:
    """Parse a count of trusted proxy hops, 0 to 5."""
    value = text.strip()
    if not value.isascii() or not value.isdigit() or int(value) > 5:
        raise ValueError(f"{text.strip()[:40]!r} is not a number of proxies from 0 to 5")
    return int(value)


def parse_bool(text: str) -> bool:
    """Parse true/false, yes/no, on/off or 1/0."""
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{text!r} is not a boolean (use true or false)")


def within(name: str, value: timedelta, low: str, high: str) -> timedelta:
    """Return the duration `value` if it lies between `low` and `high`, else refuse it."""
    if not parse_duration(low) <= value <= parse_duration(high):
        raise ConfigError(f"ENTITLEMENTS_{name} must be between {low} and {high}")
    return value


def log_level(text: str) -> str:
    """Return the upper-cased name of a Python logging level, else refuse it."""
    import logging

    level = text.strip().upper()
    if level not in logging.getLevelNamesMapping():
        raise ConfigError(
            "ENTITLEMENTS_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"
        )
    return level


def database_backend(url: str) -> str:
    """Return the backend of a database URL (postgresql or sqlite), or refuse the URL."""
    # Imported here: the CLI's --help loads this module and should not pay for SQLAlchemy.
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
        backend, _, driver = parsed.drivername.partition("+")
        if parsed.port is not None and not 0 < parsed.port < 65536:
            raise ValueError("port out of range")
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(
            "ENTITLEMENTS_DATABASE_URL is not a database URL (postgresql://... or sqlite:///...)"
        ) from exc
    if backend not in ("postgresql", "sqlite") or driver not in ("", "psycopg", "pysqlite"):
        raise ConfigError(
            "ENTITLEMENTS_DATABASE_URL must be a postgresql:// (psycopg 3) or sqlite:/// URL"
        )
    return backend


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def http_url(name: str, value: str, *, production: bool, loopback_http: bool = False) -> str:
    """Return `value` if it is an http(s) URL with a host (https in production), else refuse it.

    Such a URL becomes a link, a redirect or a token claim: `javascript:`, a bare host or a
    stray space must never get that far. `loopback_http` lets http reach this machine only.
    """
    from urllib.parse import urlsplit

    if production:
        wanted = "an https:// URL with a host in production"
        if loopback_http:
            wanted += " (http only to a loopback address)"
    else:
        wanted = "an http:// or https:// URL with a host"
    problem = ConfigError(f"ENTITLEMENTS_{name} must be {wanted}")
    if any(ord(char) < 33 or ord(char) == 127 for char in value):
        raise ConfigError(f"ENTITLEMENTS_{name} must be a URL without spaces or control characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not 0 to 65535
    except ValueError as exc:
        raise problem from exc
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise problem
    if production and parts.scheme != "https" and not (loopback_http and _is_loopback(host)):
        raise problem
    return value
