"""Read an API request's JSON object body."""

from __future__ import annotations

import json
from typing import Any

from flask import request

from ..errors import InvalidError

# Bodies up to this size (and within the request's limit) with a Content-Length are read
# straight from the WSGI input; larger or chunked ones take werkzeug's path, which enforces
# MAX_CONTENT_LENGTH.
_DIRECT_READ_LIMIT = 64 * 1024


def _is_json(content_type: str) -> bool:
    mimetype = content_type.partition(";")[0].strip().lower()
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


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
        data = request.get_data(cache=True)
    if not data:
        return {}
    if not _is_json(environ.get("CONTENT_TYPE", "")):
        raise InvalidError("send the body as Content-Type: application/json")
    try:
        body = json.loads(data)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise InvalidError("the body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidError(f"unknown field(s): {', '.join(unknown)}", fields=unknown)
    return body
