"""The admin API's grants: add, extend, revoke and list an account's grants."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from ... import db
from ...access import effective_end, in_force
from ...clock import to_rfc3339
from ...errors import InvalidError
from ...http.bearer import admin_actor, require_admin
from ...http.body import json_body
from ...http.params import row_id, text_field, time_field
from ...models import Grant
from ...runtime import now, runtime
from ...services.account_facts import grant_facts
from ...services.grants import (
    add_grant,
    check_period_open,
    extend_grant,
    grant_json,
    list_grants,
    revoke_grant,
)
from ..openapi import document
from .common import ACCOUNT_QUERY, TAG, WRITE, account_arg

bp = Blueprint("grants", __name__)


def grant_out(grant: Grant) -> dict[str, Any]:
    """Return a grant as the admin API shows it: the row, its effective end, whether active."""
    facts = grant_facts(grant, runtime().policy)
    end = effective_end(facts.ends_at, facts.revoked_at)
    return {
        **grant_json(grant),
        "effective_ends_at": to_rfc3339(end),
        "active": in_force(grant.starts_at, end, now()),
    }


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
    policy_end = runtime().policy.grandfather_until
    if "ends_at" not in body:
        # A closed period is answered before the other fields are read (the API's order).
        check_period_open(kind, policy_end=policy_end, now=now())
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
        # An explicit "ends_at": null means no end; leaving it out, a grandfather grant
        # follows the policy's end (the period every past commenter has).
        end_given="ends_at" in body,
        policy_end=policy_end,
    )
    session.commit()
    return grant_out(grant), 201


@bp.post("/grants/<grant_id>/extend")
@document(
    "Move a grant's end (null: no end); it then no longer follows the policy end.",
    request_body="EndChange",
    body_required=True,
    responses={200: "Grant", **WRITE},
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
    responses={200: "Grant", **WRITE},
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
    query=ACCOUNT_QUERY,
    responses={200: "GrantList", 400: "Problem", 401: "Problem", 403: "Problem"},
    tag=TAG,
)
@require_admin
def list_grants_view() -> dict[str, Any]:
    """List the grants of one account."""
    grants = list_grants(db.session(), account_arg())
    return {"grants": [grant_out(grant) for grant in grants]}
