"""The check API and token issuing for one account."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, g

from .. import db
from ..access import Access, resolve
from ..clock import to_rfc3339
from ..errors import InvalidError, NotFoundError
from ..http.bearer import bearer_key, check_scope, require_scope
from ..http.body import json_body
from ..http.problems import problem
from ..runtime import Runtime, now, runtime
from ..services.account_facts import facts_from_rows
from ..services.accounts import validate_account_id
from ..services.check import access_json, check_access, wait_for_changes
from ..tokens.coral import AnswerChangingError, issue_coral_sso_token
from ..tokens.coral_reader import coral_reader
from ..tokens.handoff import create_handoff
from ..tokens.service import sign_access
from .openapi import document

bp = Blueprint("accounts", __name__, url_prefix="/v1/accounts")


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
    # A token outlives its read: one that waited for a ban in flight carries it. Its iat is
    # read after the wait, before the facts (a ban committing later refuses it).
    wait_for_changes(db.fetch_all, account_id)
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


@bp.post("/<account_id>/coral-sso-token")
@document(
    "Issue a Coral Talk SSO token while the account holds comment; else 403 with a `reason`.",
    request_body="CoralSSORequest",
    body_required=True,
    responses={
        201: "Token",
        400: "Problem",
        401: "Problem",
        403: "CoralSSOProblem",
        404: "Problem",
        413: "Problem",
        422: "Problem",
        503: "Problem",
    },
    descriptions={
        403: "The account may not comment: `reason` (and `subscribe`) to show the reader. "
        "Without `reason`: the service key lacks the scope",
        404: "The bridge is off: ENTITLEMENTS_CORAL_SSO_SECRET is unset",
        422: "The username fits the pattern but breaks a rule it cannot state (see its "
        "description)",
        503: "Unavailable, or the account's access changes within the second; retry after the "
        "Retry-After header",
    },
    tag="tokens",
    security="tokens:issue",
)
def post_coral_sso_token(account_id: str) -> tuple[dict[str, Any], int] | Response:
    """Sign the reader in to Coral Talk, or say why they may not comment."""
    rt = runtime()
    rows: list[tuple[Any, ...]] = []

    def read(queries: Any, params: Any) -> list[tuple[Any, ...]]:
        fetched = db.fetch_all(queries, params)
        rows.extend(fetched)
        return fetched

    # A token outlives its read: one that waited for a ban in flight carries it. Its iat is
    # read after the wait, before the facts (a ban committing later refuses it).
    wait_for_changes(db.fetch_all, account_id)
    at = rt.clock()
    checked = check_access(read, account_id, bearer_key(), policy=rt.policy, now=at)
    g.caller = check_scope(checked.caller, "tokens:issue")
    reader = coral_reader(json_body({"username", "email"}))
    secret = rt.config.coral_sso_secret
    if secret is None:
        # Not a 503: nothing will change until the operator configures the bridge.
        raise NotFoundError(
            "the Coral SSO bridge is off: set ENTITLEMENTS_CORAL_SSO_SECRET to turn it on"
        )

    def without_bans() -> Access:
        # The same snapshot, resolved as if no ban were in force: is a ban all that stops them?
        facts = facts_from_rows(rows, rt.policy)
        return resolve(facts.subscriptions, facts.grants, (), now=at, policy=rt.policy)

    try:
        token = issue_coral_sso_token(
            checked.access,
            reader,
            account_id=account_id,
            secret=secret,
            kid=rt.config.coral_sso_kid,
            without_bans=without_bans,
            ttl=rt.config.coral_sso_ttl,
            now=at,
        )
    except AnswerChangingError as exc:
        response = problem(exc.status, exc.title, exc.detail)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
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
