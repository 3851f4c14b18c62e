"""Strict parsing of admin API input: bodies, query strings and path ids; bad input is 400."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from flask import request

from ..clock import parse_datetime
from ..errors import InvalidError, UnprocessableError

_ROW_ID = re.compile(r"[1-9][0-9]{0,18}")
_DIGITS = re.compile(r"[0-9]{1,19}")
# Row ids are 64-bit: anything larger is bad input, not a database error.
_MAX_ID = 2**63 - 1
_TRUE, _FALSE = {"true"}, {"false"}
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def query_args(allowed: set[str]) -> dict[str, str]:
    """Return the query string as a dict; unknown or repeated parameters are 400."""
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise InvalidError(
            f"unknown query parameter(s): {', '.join(unknown)} "
            f"(known: {', '.join(sorted(allowed))})",
            fields=unknown,
        )
    repeated = sorted(name for name in request.args if len(request.args.getlist(name)) > 1)
    if repeated:
        raise InvalidError(f"give each query parameter once: {', '.join(repeated)}")
    return dict(request.args.items())


def text_field(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    """Return a string field of a JSON body; a missing required one or a non-string is 400."""
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidError(f"{name} is required", field=name)
        return None
    if not isinstance(value, str):
        raise InvalidError(f"{name} must be a string", field=name)
    return value


def parse_time(value: str, name: str) -> datetime:
    """Parse an RFC 3339 time given as `name`, or raise 400 saying what is expected."""
    # Exactly the OpenAPI `date-time` format: fromisoformat alone also takes dates, week
    # dates and times without an offset, which the document forbids.
    if not _RFC3339.fullmatch(value):
        raise InvalidError(
            f"{name} must be an RFC 3339 time such as 2026-06-30T00:00:00Z", field=name
        )
    try:
        return parse_datetime(value)
    except (ValueError, OverflowError) as exc:
        # The shape is right; the day, the hour or the year after the offset is not.
        raise UnprocessableError(
            f"{name} {value[:40]!r} is not a time this service can hold", field=name
        ) from exc


def time_field(body: dict[str, Any], name: str) -> datetime | None:
    """Return a time field of a JSON body; absent or null is None, anything else must parse."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidError(f"{name} must be an RFC 3339 time or null", field=name)
    return parse_time(value, name)


def row_id(value: str, what: str) -> int:
    """Return a path id as an int, or raise 400 if it is not a positive 64-bit integer."""
    if not _ROW_ID.fullmatch(value) or int(value) > _MAX_ID:
        raise InvalidError(f"{what} id must be a positive integer, not {value[:32]!r}")
    return int(value)


def bool_arg(args: dict[str, str], name: str, default: bool) -> bool:
    """Return a boolean query parameter (true or false), or its default when absent."""
    if name not in args:
        return default
    # Only OpenAPI's own spelling: the document is exactly as strict as this.
    value = args[name]
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidError(f"{name} must be true or false, not {args[name][:32]!r}", field=name)


def int_arg(args: dict[str, str], name: str, *, default: int, low: int, high: int) -> int:
    """Return an integer query parameter inside [low, high], or its default when absent."""
    if name not in args:
        return default
    value = args[name]
    if not _DIGITS.fullmatch(value) or not low <= int(value) <= high:
        raise InvalidError(f"{name} must be an integer from {low} to {high}", field=name)
    return int(value)
