"""The admin API's bans: add, extend, lift and list an account's bans."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from ... import db
from ...access import effective_end, in_force
from ...errors import InvalidError
from ...http.bearer import admin_actor, require_admin
from ...http.body import json_body
from ...http.params import row_id, text_field, time_field
from ...models import Ban
from ...runtime import now
from ...services.bans import add_ban, ban_json, extend_ban, lift_ban, list_bans
from ..openapi import document
from .common import ACCOUNT_QUERY, TAG, WRITE, account_arg

bp = Blueprint("bans", __name__)


def ban_out(ban: Ban) -> dict[str, Any]:
    """Return a ban as the admin API shows it: the row and whether it withholds now."""
    end = effective_end(ban.ends_at, ban.lifted_at)
    return {**ban_json(ban), "active": in_force(ban.starts_at, end, now())}


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
    responses={200: "Ban", **WRITE},
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
    responses={200: "Ban", **WRITE},
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
    query=ACCOUNT_QUERY,
    responses={200: "BanList", 400: "Problem", 401: "Problem", 403: "Problem"},
    tag=TAG,
)
@require_admin
def list_bans_view() -> dict[str, Any]:
    """List the bans of one account."""
    bans = list_bans(db.session(), account_arg())
    return {"bans": [ban_out(ban) for ban in bans]}
