"""The account page: the explanation in plain words, and the grant and ban forms on it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from .. import db
from ..catalog import FEATURE_NAMES, FEATURES
from ..clock import parse_datetime
from ..errors import DomainError, InvalidError, NotFoundError
from ..http.console_session import admin_required, current_actor
from ..models import Ban, Grant, Subscription
from ..runtime import now, runtime
from ..services import bans, grants
from ..services.accounts import validate_account_id
from ..services.explain import Explanation, explain_account
from . import describe

bp = Blueprint("actions", __name__)

KIND_NAMES = {"comp": "Complimentary", "grandfather": "Past commenter"}
Page = tuple[str, int]
MAX_ID = 2**63 - 1


def _plan_names(account_id: str) -> dict[str, str]:
    """Return "Plus annual" and the like for each of the account's subscriptions."""
    catalog = runtime().catalog
    names = {}
    for sub in db.session().scalars(
        select(Subscription).where(Subscription.account_id == account_id)
    ):
        keys = [k for k in sub.lookup_keys.split(",") if k]
        plan = next((p for k in keys if (p := catalog.plan_for_lookup_key(k))), None)
        if plan is not None:
            interval = "annual" if any("annual" in k for k in keys) else "monthly"
            names[sub.id] = f"{plan.name} {interval}"
    return names


def render_account(
    account_id: str,
    *,
    form: str | None = None,
    error: DomainError | None = None,
    values: Mapping[str, str] | None = None,
) -> str:
    """Render the account page; a failed form shows its error and keeps what was typed."""
    explanation: Explanation | None
    try:
        explanation = explain_account(db.session(), account_id, policy=runtime().policy, now=now())
    except NotFoundError:
        explanation = None  # not known yet: a grant or ban creates the account
    plans = _plan_names(account_id)
    sources = {}
    restrictions = {}
    if explanation is not None:
        for feature in explanation.features:
            for source in feature.sources:
                if source.ref.startswith("grant:"):
                    sources[source.ref] = (feature.feature, source)
            for restriction in feature.restrictions:
                restrictions[restriction.ref] = (feature.feature, restriction)
    return render_template(
        "admin/account.html",
        account_id=account_id,
        explained=explanation,
        summary=describe.summary(explanation, plans) if explanation else None,
        lines=describe.feature_lines(explanation, plans) if explanation else [],
        plans=plans,
        grants=sorted(sources.items(), key=lambda item: int(item[0].split(":")[1])),
        bans=sorted(restrictions.items(), key=lambda item: int(item[0].split(":")[1])),
        features=FEATURES,
        feature_names=FEATURE_NAMES,
        kind_names=KIND_NAMES,
        bannable=bans.BANNABLE_FEATURES,
        form=form,
        error=error,
        values=values or {},
        now=now(),
    )


@bp.get("/accounts/<account_id>")
@admin_required
def account(account_id: str) -> str:
    """Show one account: every feature, held or not and why, its grants, bans and timeline."""
    validate_account_id(account_id)
    return render_account(account_id)


def _until(field: str = "until") -> datetime | None:
    """Return the form's end time (empty: none), or raise InvalidError naming the field."""
    text = request.form.get(field, "").strip()
    if not text:
        return None
    try:
        return parse_datetime(text)
    except ValueError as exc:
        raise InvalidError(
            "the end must be a date like 2026-06-30 or a time like 2026-06-30T18:00 (UTC)",
            field=field,
        ) from exc


def _submit(account_id: str, form: str, change: Callable[[Session], str]) -> Response | Page:
    """Apply one change and commit, or show the page again with the error, writing nothing."""
    db_session = db.session()
    try:
        message = change(db_session)
    except DomainError as exc:
        db_session.rollback()
        return render_account(account_id, form=form, error=exc, values=request.form), exc.status
    db_session.commit()
    flash(message)
    return redirect(url_for("console.actions.account", account_id=account_id), code=303)


@bp.post("/accounts/<account_id>/grants")
@admin_required
def grant_add(account_id: str) -> Response | Page:
    """Grant one feature, until a date or with no end; a reason is required."""
    validate_account_id(account_id)

    def change(session: Session) -> str:
        ends_at = _until()
        grant = grants.add_grant(
            session,
            account_id,
            feature=request.form.get("feature", ""),
            kind=request.form.get("kind", "comp"),
            reason=request.form.get("reason"),
            actor=current_actor(),
            now=now(),
            ends_at=ends_at,
            # A past commenter's grant without a date ends when the grandfather period does.
            policy_end=runtime().policy.grandfather_until,
        )
        return f"Granted {grant.feature} to {account_id} ({describe.when(grant.ends_at)})."

    return _submit(account_id, "grant", change)


def _account_of(model: type[Grant] | type[Ban], row_id: int) -> str:
    """Return the account a grant or ban belongs to, or raise NotFoundError."""
    # Ids are 64-bit: a larger number in the URL is simply not there.
    found = None
    if row_id <= MAX_ID:
        found = db.session().scalar(select(model.account_id).where(model.id == row_id))
    if found is None:
        raise NotFoundError(f"no {model.__tablename__[:-1]} with id {row_id}")
    return found


@bp.post("/grants/<int:grant_id>/extend")
@admin_required
def grant_extend(grant_id: int) -> Response | Page:
    """Move a grant's end ("no end" ticked: permanent); a reason is required."""
    account_id = _account_of(Grant, grant_id)

    def change(session: Session) -> str:
        ends_at = _until()
        # An empty date must not make a grant permanent by accident: "no end" is ticked.
        if ends_at is None and request.form.get("no_end") != "1":
            raise InvalidError(
                'give the new end, or tick "no end" to make the grant permanent', field="until"
            )
        grant = grants.extend_grant(
            session,
            grant_id,
            ends_at=ends_at,
            reason=request.form.get("reason"),
            actor=current_actor(),
            now=now(),
        )
        return f"Grant {grant_id} now ends: {describe.when(grant.ends_at)}."

    return _submit(account_id, f"extend-{grant_id}", change)


@bp.post("/grants/<int:grant_id>/revoke")
@admin_required
def grant_revoke(grant_id: int) -> Response | Page:
    """Revoke a grant now; a reason is required."""
    account_id = _account_of(Grant, grant_id)

    def change(session: Session) -> str:
        grants.revoke_grant(
            session, grant_id, reason=request.form.get("reason"), actor=current_actor(), now=now()
        )
        return f"Revoked grant {grant_id}."

    return _submit(account_id, f"revoke-{grant_id}", change)


@bp.post("/accounts/<account_id>/bans")
@admin_required
def ban_add(account_id: str) -> Response | Page:
    """Ban a feature, permanently or until a date; a reason (≤ 2000 characters) is required.

    The reason is the admins' note; the optional public message is what the reader sees.
    """
    validate_account_id(account_id)

    def change(session: Session) -> str:
        ban = bans.add_ban(
            session,
            account_id,
            feature=request.form.get("feature", ""),
            reason=request.form.get("reason"),
            actor=current_actor(),
            now=now(),
            ends_at=_until(),
            public_message=request.form.get("public_message"),
        )
        span = f"until {describe.when(ban.ends_at)}" if ban.ends_at else "permanently"
        return f"Banned {account_id} from {ban.feature} {span}."

    return _submit(account_id, "ban", change)


@bp.post("/bans/<int:ban_id>/lift")
@admin_required
def ban_lift(ban_id: int) -> Response | Page:
    """Lift a ban now; a reason is required."""
    account_id = _account_of(Ban, ban_id)

    def change(session: Session) -> str:
        bans.lift_ban(
            session, ban_id, reason=request.form.get("reason"), actor=current_actor(), now=now()
        )
        return f"Lifted ban {ban_id}."

    return _submit(account_id, f"lift-{ban_id}", change)
