"""The admin API's audit trail, newest first, filtered and paged."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint

from ... import db
from ...errors import InvalidError, UnprocessableError
from ...http.bearer import require_admin
from ...http.params import int_arg, parse_time, query_args, row_id
from ...services.accounts import validate_account_id
from ...services.audit_log import AuditFilter, audit_json, find_events
from ..openapi import ACCOUNT_ID, ROW_ID, document, text
from .common import LIMIT, MAX_QUERY, NEXT_CURSOR, READ, TAG

bp = Blueprint("audit", __name__)

_ACTION = re.compile(r"[a-z_]{1,32}(\.[a-z_]{1,32}){0,3}")


@bp.get("/audit")
@document(
    "Audit records, newest first; filters combine; page with cursor.",
    query={
        "account_id": ACCOUNT_ID,
        "actor": text(MAX_QUERY, minLength=1, description="e.g. key:<service key>, cli:<user>"),
        "action": {
            "type": "string",
            "pattern": f"^{_ACTION.pattern}$",
            "description": "e.g. grant.add, ban.lift",
        },
        "since": {"type": "string", "format": "date-time", "description": "inclusive"},
        "until": {
            "type": "string",
            "format": "date-time",
            "description": "exclusive; after since (else 422)",
        },
        "limit": LIMIT,
        "cursor": {**ROW_ID, "description": NEXT_CURSOR},
    },
    responses={200: "AuditPage", 422: "Problem", **READ},
    tag=TAG,
)
@require_admin
def audit_view() -> dict[str, Any]:
    """Query the audit trail."""
    args = query_args({"account_id", "actor", "action", "since", "until", "limit", "cursor"})
    account_id = args.get("account_id")
    if account_id is not None:
        validate_account_id(account_id)
    actor = args.get("actor")
    if actor is not None and not 1 <= len(actor) <= MAX_QUERY:
        raise InvalidError(f"actor must be 1-{MAX_QUERY} characters", field="actor")
    action = args.get("action")
    if action is not None and not _ACTION.fullmatch(action):
        raise InvalidError("action must look like grant.add or ban.lift", field="action")
    since = parse_time(args["since"], "since") if "since" in args else None
    until = parse_time(args["until"], "until") if "until" in args else None
    if since is not None and until is not None and until <= since:
        raise UnprocessableError("until must be after since", field="until")
    cursor = row_id(args["cursor"], "cursor") if "cursor" in args else None
    events, next_id = find_events(
        db.session(),
        AuditFilter(account_id, actor, action, since, until),
        limit=int_arg(args, "limit", default=50, low=1, high=500),
        before_id=cursor,
    )
    return {
        "events": [audit_json(event) for event in events],
        "next_cursor": None if next_id is None else str(next_id),
    }
