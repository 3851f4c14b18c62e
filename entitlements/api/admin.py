"""The admin API under /v1/admin: grants and bans here; accounts, audit and import beside it.

Every view: require an admin, parse strictly (unknown fields are 400), call one service,
commit once, answer JSON. Audit records name the admin as the actor.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint

from .. import db
from ..clock import to_rfc3339
from ..errors import InvalidError
from ..models import Ban, Grant
from ..runtime import now, runtime
from ..services.accounts import grant_facts, validate_account_id
from ..services.bans import add_ban, ban_json, extend_ban, lift_ban, list_bans
from ..services.grants import (
    add_grant,
    extend_grant,
    follows_policy,
    grant_json,
    list_grants,
    revoke_grant,
)
from .admin_params import query_args, row_id, text_field, time_field
from .auth import admin_actor, require_admin
from .openapi import ACCOUNT_ID, document
from .request_body import json_body

bp = Blueprint("admin", __name__, url_prefix="/v1/admin")

TAG = "admin"
_WRITE = {
    400: "Problem",
    401: "Problem",
    403: "Problem",
    404: "Problem",
    409: "Problem",
    422: "Problem",
}
_ACCOUNT_QUERY = {"account_id": {**ACCOUNT_ID, "required": True, "description": "The account."}}


def _active(start: datetime, end: datetime | None, at: datetime) -> bool:
    return start <= at and (end is None or at < end)


def grant_out(grant: Grant) -> dict[str, Any]:
    """Return a grant as the admin API shows it: the row, its effective end, whether active."""
    facts = grant_facts(grant, runtime().policy)
    end = facts.ends_at
    if grant.revoked_at is not None and (end is None or grant.revoked_at < end):
        end = grant.revoked_at
    return {
        **grant_json(grant),
        "effective_ends_at": to_rfc3339(end),
        "active": _active(grant.starts_at, end, now()),
    }


def ban_out(ban: Ban) -> dict[str, Any]:
    """Return a ban as the admin API shows it: the row and whether it withholds now."""
    end = ban.ends_at
    if ban.lifted_at is not None and (end is None or ban.lifted_at < end):
        end = ban.lifted_at
    return {**ban_json(ban), "active": _active(ban.starts_at, end, now())}


def _account_arg() -> str:
    args = query_args({"account_id"})
    if "account_id" not in args:
        raise InvalidError("the account_id query parameter is required", field="account_id")
    return validate_account_id(args["account_id"])


# ---- grants ------------------------------------------------------------------------------


@bp.post("/grants")
@document(
    "Grant one feature to an account; a grandfather grant without ends_at follows the policy.",
    request_body="GrantCreate",
    body_required=True,
    responses={201: "Grant", 400: "Problem", 401: "Problem", 403: "Problem", 422: "Problem"},
    tag=TAG,
)
@require_admin
def create_grant() -> tuple[dict[str, Any], int]:
    """Add a grant (comp by default) with a reason."""
    body = json_body({"account_id", "feature", "kind", "ends_at", "reason"})
    # Absent or null means comp; "" is not a kind (the document's enum says so).
    given_kind = text_field(body, "kind", required=False)
    kind = "comp" if given_kind is None else given_kind
    # Omitting the end of a grandfather grant means "the period every past commenter has".
    # An explicit "ends_at": null means no end; leaving it out means the policy's end.
    by_policy = "ends_at" not in body and follows_policy(
        kind, None, policy_end=runtime().policy.grandfather_until, now=now()
    )
    session = db.session()
    grant = add_grant(
        session,
        text_field(body, "account_id") or "",
        feature=text_field(body, "feature") or "",
        kind=kind,
        reason=text_field(body, "reason"),
        actor=admin_actor(),
        now=now(),
        ends_at=time_field(body, "ends_at"),
        ends_by_policy=by_policy,
    )
    session.commit()
    return grant_out(grant), 201


@bp.post("/grants/<grant_id>/extend")
@document(
    "Move a grant's end (null: no end); it then no longer follows the policy end.",
    request_body="EndChange",
    body_required=True,
    responses={200: "Grant", **_WRITE},
    tag=TAG,
)
@require_admin
def extend_grant_view(grant_id: str) -> dict[str, Any]:
    """Give one grant its own end: later to extend, now or soon to end it early."""
    number = row_id(grant_id, "grant")
    body = json_body({"ends_at", "reason"})
    if "ends_at" not in body:
        raise InvalidError("ends_at is required (null: no end)", field="ends_at")
    session = db.session()
    grant = extend_grant(
        session,
        number,
        ends_at=time_field(body, "ends_at"),
        reason=text_field(body, "reason"),
        actor=admin_actor(),
        now=now(),
    )
    session.commit()
    return grant_out(grant)


@bp.post("/grants/<grant_id>/revoke")
@document(
    "Revoke a grant now.",
    request_body="ReasonRequest",
    body_required=True,
    responses={200: "Grant", **_WRITE},
    tag=TAG,
)
@require_admin
def revoke_grant_view(grant_id: str) -> dict[str, Any]:
    """Revoke one grant with a reason."""
    number = row_id(grant_id, "grant")
    body = json_body({"reason"})
    session = db.session()
    grant = revoke_grant(
        session, number, reason=text_field(body, "reason"), actor=admin_actor(), now=now()
    )
    session.commit()
    return grant_out(grant)


@bp.get("/grants")
@document(
    "List an account's grants, oldest first, revoked and ended ones included.",
    query=_ACCOUNT_QUERY,
    responses={200: "GrantList", 400: "Problem", 401: "Problem", 403: "Problem"},
    tag=TAG,
)
@require_admin
def list_grants_view() -> dict[str, Any]:
    """List the grants of one account."""
    grants = list_grants(db.session(), _account_arg())
    return {"grants": [grant_out(grant) for grant in grants]}


# ---- bans --------------------------------------------------------------------------------


@bp.post("/bans")
@document(
    "Ban an account from commenting, permanently or until ends_at.",
    request_body="BanCreate",
    body_required=True,
    responses={201: "Ban", 400: "Problem", 401: "Problem", 403: "Problem", 422: "Problem"},
    tag=TAG,
)
@require_admin
def create_ban() -> tuple[dict[str, Any], int]:
    """Add a ban with a reason (at most 2000 characters) and an optional public message."""
    body = json_body({"account_id", "feature", "ends_at", "reason", "public_message"})
    session = db.session()
    ban = add_ban(
        session,
        text_field(body, "account_id") or "",
        feature=text_field(body, "feature") or "",
        reason=text_field(body, "reason"),
        actor=admin_actor(),
        now=now(),
        ends_at=time_field(body, "ends_at"),
        public_message=text_field(body, "public_message", required=False),
    )
    session.commit()
    return ban_out(ban), 201


@bp.post("/bans/<ban_id>/extend")
@document(
    "Move the end of a ban in force (null: permanent); lift it to end it now.",
    request_body="EndChange",
    body_required=True,
    responses={200: "Ban", **_WRITE},
    tag=TAG,
)
@require_admin
def extend_ban_view(ban_id: str) -> dict[str, Any]:
    """Change how long a suspension lasts."""
    number = row_id(ban_id, "ban")
    body = json_body({"ends_at", "reason"})
    if "ends_at" not in body:
        raise InvalidError("ends_at is required (null: permanent)", field="ends_at")
    session = db.session()
    ban = extend_ban(
        session,
        number,
        ends_at=time_field(body, "ends_at"),
        reason=text_field(body, "reason"),
        actor=admin_actor(),
        now=now(),
    )
    session.commit()
    return ban_out(ban)


@bp.post("/bans/<ban_id>/lift")
@document(
    "Lift a ban now.",
    request_body="ReasonRequest",
    body_required=True,
    responses={200: "Ban", **_WRITE},
    tag=TAG,
)
@require_admin
def lift_ban_view(ban_id: str) -> dict[str, Any]:
    """Lift one ban with a reason."""
    number = row_id(ban_id, "ban")
    body = json_body({"reason"})
    session = db.session()
    ban = lift_ban(
        session, number, reason=text_field(body, "reason"), actor=admin_actor(), now=now()
    )
    session.commit()
    return ban_out(ban)


@bp.get("/bans")
@document(
    "List an account's bans, oldest first, lifted and ended ones included.",
    query=_ACCOUNT_QUERY,
    responses={200: "BanList", 400: "Problem", 401: "Problem", 403: "Problem"},
    tag=TAG,
)
@require_admin
def list_bans_view() -> dict[str, Any]:
    """List the bans of one account."""
    bans = list_bans(db.session(), _account_arg())
    return {"bans": [ban_out(ban) for ban in bans]}


# The other admin views live in their own modules; importing them adds their routes to `bp`.
from . import admin_accounts, admin_import  # noqa: E402

__all__ = ["admin_accounts", "admin_import", "bp"]
