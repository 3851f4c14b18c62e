"""The check API and token issuing for one account."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, g

from .. import db
from ..access import Access
from ..clock import to_rfc3339
from ..errors import InvalidError
from ..http.bearer import bearer_key, check_scope, require_scope
from ..http.body import json_body
from ..runtime import Runtime, now, runtime
from ..services.accounts import validate_account_id
from ..services.check import check_access
from ..tokens.handoff import create_handoff
from ..tokens.service import sign_access
from .openapi import document

bp = Blueprint("accounts", __name__, url_prefix="/v1/accounts")


def access_json(account_id: str, access: Access) -> dict[str, Any]:
    """Render resolve()'s answer in the public check API shape."""
    sources = []
    for source in access.sources:
        entry = {
            "feature": source.feature,
            "source": source.source,
            "ends_at": to_rfc3339(source.ends_at),
        }
        # Two grants of the same kind and end read as one source.
        if entry not in sources:
            sources.append(entry)
    restrictions = []
    for restriction in access.restrictions:
        item = {
            "feature": restriction.feature,
            "message": restriction.message,
            "ends_at": to_rfc3339(restriction.ends_at),
        }
        if item not in restrictions:
            restrictions.append(item)
    return {
        "account_id": account_id,
        "features": list(access.features),
        "plan": access.plan,
        "sources": sources,
        "restrictions": restrictions,
        "valid_until": to_rfc3339(access.valid_until),
    }


def authorized_access(account_id: str, scope: str, rt: Runtime, at: datetime) -> Access:
    """Check the key's scope and resolve the account at `at`, from one single-statement read."""
    checked = check_access(db.fetch_all, account_id, bearer_key(), policy=rt.policy, now=at)
    g.caller = check_scope(checked.caller, scope)
    return checked.access


@bp.get("/<account_id>/entitlements")
@document(
    "What an account may do now, and until when.",
    responses={200: "Entitlements", 400: "Problem", 401: "Problem", 403: "Problem", 503: "Problem"},
    security="entitlements:read",
)
def get_entitlements(account_id: str) -> dict[str, Any]:
    """Answer the check API for one account (unknown accounts get the empty answer)."""
    rt = runtime()
    access = authorized_access(account_id, "entitlements:read", rt, rt.clock())
    return access_json(account_id, access)


@bp.post("/<account_id>/tokens")
@document(
    "Issue a short-lived signed token of the account's entitlements.",
    request_body="TokenRequest",
    responses={201: "Token", 400: "Problem", 401: "Problem", 403: "Problem", 503: "Problem"},
    tag="tokens",
    security="tokens:issue",
)
def post_token(account_id: str) -> tuple[dict[str, Any], int]:
    """Issue a token for one account and audience."""
    rt = runtime()
    at = rt.clock()
    access = authorized_access(account_id, "tokens:issue", rt, at)
    body = json_body({"audience"})
    audience = body.get("audience")
    if audience is not None and not isinstance(audience, str):
        raise InvalidError("audience must be a string", field="audience")
    session = db.session()
    token = sign_access(
        session,
        access,
        account_id=account_id,
        audience=audience,
        config=rt.config,
        keyring=rt.keyring,
        now=at,
    )
    if session.in_transaction():
        # Only when the key ring was read or the first development key was made.
        session.commit()
    return {"token": token.token, "expires_at": to_rfc3339(token.expires_at)}, 201


@bp.post("/<account_id>/handoffs")
@document(
    "Sign a reader in to the subscriber pages: a one-time URL valid for two minutes.",
    request_body="HandoffRequest",
    responses={201: "Handoff", 400: "Problem", 401: "Problem", 403: "Problem"},
    tag="subscribers",
)
@require_scope("tokens:issue")
def post_handoff(account_id: str) -> tuple[dict[str, Any], int]:
    """Return the URL the site redirects its signed-in reader to."""
    validate_account_id(account_id)
    body = json_body({"next", "email"})
    next_page = body.get("next", "/subscribe")
    email = body.get("email")
    if not isinstance(next_page, str):
        raise InvalidError("next must be a string", field="next")
    if email is not None and (not isinstance(email, str) or "@" not in email or len(email) > 254):
        raise InvalidError("email must be an email address", field="email")
    rt = runtime()
    url, expires_at = create_handoff(
        secret_key=rt.config.secret_key,
        public_url=rt.config.public_url,
        account_id=account_id,
        next_page=next_page,
        email=email,
        now=now(),
    )
    return {"url": url, "expires_at": to_rfc3339(expires_at)}, 201
