"""The admin API's accounts: search them, and explain what one may do and why."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from ... import db
from ...clock import to_rfc3339
from ...errors import InvalidError
from ...http.bearer import require_admin
from ...http.params import int_arg, query_args
from ...runtime import now, runtime
from ...services.accounts import search_accounts, validate_account_id
from ...services.check import access_json
from ...services.explain import explain_account, to_json
from ..openapi import ACCOUNT_ID, document, text
from .common import LIMIT, MAX_QUERY, NEXT_CURSOR, READ, TAG

bp = Blueprint("accounts", __name__)


@bp.get("/accounts")
@document(
    "Find accounts by id (substring) or Stripe customer id (prefix), ordered by id.",
    query={
        "q": text(MAX_QUERY, description="Empty: every account."),
        "limit": LIMIT,
        "cursor": {**ACCOUNT_ID, "description": NEXT_CURSOR},
    },
    responses={200: "AccountList", **READ},
    tag=TAG,
)
@require_admin
def search_accounts_view() -> dict[str, Any]:
    """Search accounts, one page at a time."""
    args = query_args({"q", "limit", "cursor"})
    # Measured before stripping, as the document's maxLength counts.
    if len(args.get("q", "")) > MAX_QUERY:
        raise InvalidError(f"q must be at most {MAX_QUERY} characters", field="q")
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
    responses={200: "Explanation", 404: "Problem", **READ},
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
