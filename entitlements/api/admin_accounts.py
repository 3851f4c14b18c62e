"""Admin reads: account search, the explain view of one account, and the audit trail."""

from __future__ import annotations

import re
from typing import Any

from .. import db
from ..clock import to_rfc3339
from ..errors import InvalidError, UnprocessableError
from ..runtime import now, runtime
from ..services.accounts import search_accounts, validate_account_id
from ..services.audit_log import AuditFilter, audit_json, find_events
from ..services.explain import explain_account, to_json
from .accounts import access_json
from .admin import TAG, bp
from .admin_params import int_arg, parse_time, query_args, row_id
from .auth import require_admin
from .openapi import ACCOUNT_ID, ROW_ID, document, text

_READ = {400: "Problem", 401: "Problem", 403: "Problem"}
_MAX_QUERY = 255
_ACTION = re.compile(r"[a-z_]{1,32}(\.[a-z_]{1,32}){0,3}")
_LIMIT = {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}
_CURSOR = "next_cursor of the previous page"


@bp.get("/accounts")
@document(
    "Find accounts by id (substring) or Stripe customer id (prefix), ordered by id.",
    query={
        "q": text(_MAX_QUERY, description="Empty: every account."),
        "limit": _LIMIT,
        "cursor": {**ACCOUNT_ID, "description": _CURSOR},
    },
    responses={200: "AccountList", **_READ},
    tag=TAG,
)
@require_admin
def search_accounts_view() -> dict[str, Any]:
    """Search accounts, one page at a time."""
    args = query_args({"q", "limit", "cursor"})
    # Measured before stripping, as the document's maxLength counts.
    if len(args.get("q", "")) > _MAX_QUERY:
        raise InvalidError(f"q must be at most {_MAX_QUERY} characters", field="q")
    query = args.get("q", "").strip()
    limit = int_arg(args, "limit", default=50, low=1, high=500)
    cursor = args.get("cursor")
    if cursor is not None:
        validate_account_id(cursor)
    accounts, next_cursor = search_accounts(db.session(), query, limit=limit, after=cursor)
    return {
        "accounts": [
            {
                "id": account.id,
                "stripe_customer_id": account.stripe_customer_id,
                "created_at": to_rfc3339(account.created_at),
                "token_version": account.token_version,
            }
            for account in accounts
        ],
        "next_cursor": next_cursor,
    }


@bp.get("/accounts/<account_id>")
@document(
    "Explain an account: every feature with its sources, bans and windows, and a timeline.",
    responses={200: "Explanation", 404: "Problem", **_READ},
    tag=TAG,
)
@require_admin
def explain_account_view(account_id: str) -> dict[str, Any]:
    """Say what the account may do now, and exactly why."""
    validate_account_id(account_id)
    query_args(set())
    explanation = explain_account(
        db.session(), account_id, policy=runtime().policy, now=now()
    )
    body: dict[str, Any] = to_json(explanation)
    # The answer in the check API's own shape, so the two can be compared field by field.
    del body["access"]
    body["answer"] = access_json(account_id, explanation.access)
    return body


@bp.get("/audit")
@document(
    "Audit records, newest first; filters combine; page with cursor.",
    query={
        "account_id": ACCOUNT_ID,
        "actor": text(_MAX_QUERY, minLength=1, description="e.g. key:<service key>, cli:<user>"),
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
        "limit": _LIMIT,
        "cursor": {**ROW_ID, "description": _CURSOR},
    },
    responses={200: "AuditPage", 422: "Problem", **_READ},
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
    if actor is not None and not 1 <= len(actor) <= _MAX_QUERY:
        raise InvalidError(f"actor must be 1-{_MAX_QUERY} characters", field="actor")
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
