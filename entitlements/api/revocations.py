"""GET /v1/revocations: accounts whose tokens issued before a moment are no longer good."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint

from .. import db
from ..errors import InvalidError
from ..http.bearer import require_scope
from ..http.params import int_arg, query_args
from ..services.revocations import list_revocations
from .openapi import document

bp = Blueprint("revocations", __name__, url_prefix="/v1")

MAX_SECONDS = 2**53  # Unix seconds a JSON number carries exactly
_CURSOR = re.compile(r"([0-9]{1,16}):([A-Za-z0-9_.:@-]{1,64})")


@bp.get("/revocations")
@document(
    "Accounts whose not_before moved after `since`: refuse their tokens with an older iat.",
    query={
        "since": {"type": "integer", "minimum": 0, "maximum": MAX_SECONDS, "required": True,
                  "description": "Unix seconds; poll with your previous poll's time minus 60"},
        "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 500},
        "cursor": {"type": "string", "pattern": f"^{_CURSOR.pattern}$",
                   "description": "next_cursor of the previous page"},
    },
    responses={200: "Revocations", 400: "Problem", 401: "Problem", 403: "Problem"},
)
@require_scope("entitlements:read")
def get_revocations() -> dict[str, Any]:
    """List revoked accounts' not_before since a moment, oldest first, paged."""
    args = query_args({"since", "limit", "cursor"})
    if "since" not in args:
        raise InvalidError("the since query parameter is required (Unix seconds)", field="since")
    since = int_arg(args, "since", default=0, low=0, high=MAX_SECONDS)
    after = None
    if "cursor" in args:
        match = _CURSOR.fullmatch(args["cursor"])
        if match is None:
            raise InvalidError("cursor must be a next_cursor of this endpoint", field="cursor")
        after = (int(match.group(1)), match.group(2))
    rows, following = list_revocations(
        db.session(), since=since, limit=int_arg(args, "limit", default=500, low=1, high=1000),
        after=after,
    )
    return {
        "revocations": [{"account_id": a, "not_before": s} for a, s in rows],
        "next_cursor": None if following is None else f"{following[0]}:{following[1]}",
    }
