"""The wall clock, read only at entry points and injected everywhere else."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Return the current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


def to_rfc3339(value: datetime | None) -> str | None:
    """Format a UTC datetime as RFC 3339 with a `Z` suffix, or None."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_datetime(text: str) -> datetime:
    """Parse an ISO 8601 timestamp or date; naive input is taken as UTC.

    Raises ValueError for anything that is not one, including times that overflow once
    moved to UTC (0001-01-01T00:00+01:00), so callers answer bad input, not a crash.
    """
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"{text!r} is out of range") from exc
