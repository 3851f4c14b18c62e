"""Read an API request's JSON object body."""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from ..errors import InvalidError
from ..json_rules import JSONRuleError, check_names, check_values, parse_json, rules_at_risk

# Bodies up to this size (and within the request's limit) with a Content-Length are read
# straight from the WSGI input; larger or chunked ones take werkzeug's path, which enforces
# MAX_CONTENT_LENGTH.
_DIRECT_READ_LIMIT = 64 * 1024


def parse_object(data: bytes, allowed: set[str]) -> dict[str, Any]:
    """Parse a JSON object of `allowed` fields under the input rules, or raise a 400."""
    try:
        body, text = parse_json(data)
        if not isinstance(body, dict):
            raise InvalidError(f"the body must be a JSON object, not {_kind(body)}")
        # Walk the values only when a rule could be broken: the token endpoint's small flat
        # bodies skip the walk.
        depth, strings = rules_at_risk(text)
        if strings:
            check_names(body)
        # Unknown fields first: naming them helps more than a rule their values break.
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise InvalidError(f"unknown field(s): {', '.join(unknown)}", fields=unknown)
        if depth or strings:
            check_values(body, depth=depth, text=strings)
    except JSONRuleError as exc:
        named = {} if exc.field is None else {"field": exc.field}
        raise InvalidError(str(exc), **named) from exc
    return body


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def _is_json(content_type: str) -> bool:
    mimetype = content_type.partition(";")[0].strip().lower()
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def read_body(*, cache: bool = False) -> bytes:
    """Return the whole request body; one streamed past the size limit is 413, never cut."""
    data = request.get_data(cache=cache)
    limit = request.max_content_length
    # Without a Content-Length (chunked), werkzeug's stream stops quietly at the limit: a body
    # that fills it may have been cut short, so it is refused rather than read as complete.
    if request.content_length is None and limit is not None and len(data) >= limit:
        raise RequestEntityTooLarge()
    return data


def json_body(allowed: set[str]) -> dict[str, Any]:
    """Return the request's JSON object (empty if there is no body); unknown fields are 400."""
    # Read and parsed here rather than with Flask's get_json(): its stream wrapping and
    # content-type parsing cost more than signing a token on the token endpoint's hot path.
    environ = request.environ
    length = request.content_length
    limit = request.max_content_length
    if length is not None and length <= _DIRECT_READ_LIMIT and (limit is None or length <= limit):
        data = environ["wsgi.input"].read(length) if length else b""
        if len(data) < length:
            # What werkzeug's stream does when the client stops early.
            raise InvalidError("the body is shorter than its Content-Length")
    else:
        data = read_body(cache=True)
    if not data:
        return {}
    if not _is_json(environ.get("CONTENT_TYPE", "")):
        raise InvalidError("send the body as Content-Type: application/json")
    return parse_object(data, allowed)
