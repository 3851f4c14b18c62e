"""Calendar arithmetic for billing periods (UTC, month-end clamping like Stripe)."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

MINUTE = 60
HOUR = 3600
DAY = 86400


def _shift_months(dt: datetime, months: int) -> datetime:
    total = dt.month - 1 + months
    year, month = dt.year + total // 12, total % 12 + 1
    # Jan 31 + 1 month is Feb 28/29: Stripe clamps to the last day of the month.
    day = min(dt.day, calendar.monthrange(year, month)[1])
    return dt.replace(year=year, month=month, day=day)


def add_interval(ts: int, interval: str, count: int = 1) -> int:
    """Return `ts` moved forward by `count` billing intervals (day/week/month/year)."""
    dt = datetime.fromtimestamp(ts, tz=UTC)
    if interval == "day":
        out = dt + timedelta(days=count)
    elif interval == "week":
        out = dt + timedelta(weeks=count)
    elif interval == "month":
        out = _shift_months(dt, count)
    elif interval == "year":
        out = _shift_months(dt, 12 * count)
    else:
        raise ValueError(f"unknown interval {interval!r}")
    return int(out.timestamp())


def next_period_end(anchor: int, after: int, interval: str, interval_count: int) -> int:
    """Return the first anchor-aligned boundary strictly after `after`.

    Periods are computed from the anchor each time (not chained) so that a
    Jan 31 anchor gives Feb 28 then Mar 31, as Stripe does.
    """
    k = 1
    while True:
        boundary = add_interval(anchor, interval, k * interval_count)
        if boundary > after:
            return boundary
        k += 1


def fmt_date(ts: int | None) -> str:
    """Format a unix timestamp as a short human date for the hosted pages."""
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%B %-d, %Y")
