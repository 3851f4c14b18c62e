"""The console under /admin: sign-in and sign-out, account search, the audit log.

The parent blueprint: its hooks (headers, errors, template context) cover the child blueprints
it registers, the account page with its forms and the grandfather import.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, g, redirect, render_template, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response as BaseResponse

from .. import db
from ..clock import parse_datetime
from ..errors import DomainError
from ..http.console_session import (
    admin_required,
    current_actor,
    end_session,
    safe_next,
    session_admin,
    start_session,
)
from ..http.csrf import check_csrf, csrf_token
from ..http.request_id import current_request_id
from ..models import AuditEvent
from ..pages import PAGE_HEADERS
from ..runtime import now, runtime
from ..services.accounts import ACCOUNT_ID, search_accounts
from ..services.admins import sign_in
from ..services.audit import record
from ..services.audit_log import AuditFilter, find_events
from . import actions, describe, imports, webhooks

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/admin",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
for child in (actions, imports, webhooks):
    bp.register_blueprint(child.bp)

# One message for every failed sign-in: it never tells whether the email exists.
SIGN_IN_FAILED = (
    "Sign-in failed. Check the email and password; after repeated failures an account is "
    "locked for 15 minutes."
)
PAGE = 50
# Offered as suggestions in the audit filter (a datalist: no script needed).
KNOWN_ACTIONS = (
    "admin.create", "admin.disable", "admin.login", "admin.login_failed", "admin.logout",
    "ban.add", "ban.extend", "ban.lift", "grandfather.import", "grandfather.preview",
    "grant.add", "grant.extend", "grant.revoke", "service_key.create", "service_key.revoke",
    "signing_key.create", "signing_key.rotate", "subscription.cancel", "subscription.refund",
    "subscription.revoke", "subscription.sync",
)
SECURITY_HEADERS = {
    **PAGE_HEADERS,
    # The console's forms post only to itself (the subscriber pages' redirect to Stripe).
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}


@bp.after_request
def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError) -> tuple[str, int]:
    return render_template("admin/message.html", title=exc.title, message=exc.detail), exc.status


@bp.context_processor
def _inject() -> dict[str, Any]:
    return {"admin": g.get("admin"), "csrf": csrf_token()}


@bp.app_template_filter("when")
def _when(value: datetime | None) -> str:
    return describe.when(value)


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_exc: RequestEntityTooLarge) -> tuple[str, int]:
    message = "The upload is too large: split the file and import each part."
    return render_template("admin/message.html", title="Too large", message=message), 413


@bp.get("/login")
def login() -> BaseResponse | str:
    """Show the sign-in form (or go on, if already signed in)."""
    if session_admin() is not None:
        return redirect(url_for("console.accounts"), code=303)
    notice = None
    if request.args.get("expired"):
        notice = "Your session ended after a period without activity. Sign in again."
    elif request.args.get("signed_out"):
        notice = "You are signed out."
    return render_template(
        "admin/login.html", notice=notice, error=None, email="", next=request.args.get("next")
    )


@bp.post("/login")
def login_submit() -> BaseResponse | tuple[str, int]:
    """Check the password under the lockout rules; start a new session on success."""
    # Login forms carry CSRF tokens too, or another site could sign a browser in as itself.
    check_csrf()
    email = request.form.get("email", "")
    db_session = db.session()
    result = sign_in(
        db_session,
        email,
        request.form.get("password", ""),
        # The peer's address, or the client's once ENTITLEMENTS_TRUSTED_PROXIES applies
        # ProxyFix: behind a proxy without it, every admin would share the proxy's throttle.
        client_address=request.remote_addr,
        request_id=current_request_id(),
        now=now(),
    )
    # Failed attempts are committed too: the counter and the audit record must persist.
    db_session.commit()
    if result.admin is None:
        page = render_template(
            "admin/login.html",
            notice=None,
            error=SIGN_IN_FAILED,
            email=email.strip()[:254],
            next=request.form.get("next"),
        )
        return page, 400
    start_session(result.admin)
    return redirect(safe_next(request.form.get("next")), code=303)


@bp.post("/logout")
@admin_required
def logout() -> BaseResponse:
    """Sign out; every session of this admin ends, copies of the cookie included."""
    db_session = db.session()
    admin = g.admin
    admin.session_generation += 1
    record(
        db_session,
        current_actor(),
        action="admin.logout",
        subject_type="admin",
        subject_id=admin.email,
        account_id=None,
        now=now(),
    )
    db_session.commit()
    end_session()
    return redirect(url_for("console.login", signed_out="1"), code=303)


@bp.get("/")
@admin_required
def home() -> str:
    """Show the state of the grandfather period and where to go next."""
    config = runtime().config
    return render_template(
        "admin/home.html",
        cutoff=config.grandfather_cutoff,
        until=config.grandfather_until,
        period_active=config.grandfather_until > now(),
    )


@bp.get("/accounts")
@admin_required
def accounts() -> tuple[str, int]:
    """Search accounts by id (substring) or Stripe customer id (prefix), by id, a page at a time."""
    query = request.args.get("q", "").strip()[:255]
    after = request.args.get("after") or None
    if after is not None and not ACCOUNT_ID.fullmatch(after):
        after = None
    found, next_cursor = search_accounts(db.session(), query, limit=PAGE, after=after)
    page = render_template(
        "admin/search.html", query=query, accounts=found, next_cursor=next_cursor, after=after
    )
    return page, 200


def _parse_bound(value: str, name: str, errors: dict[str, str]) -> datetime | None:
    if not value.strip():
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        errors[name] = "use a date like 2026-01-31 or a time like 2026-01-31T18:00 (UTC)"
        return None


@bp.get("/audit")
@admin_required
def audit() -> tuple[str, int]:
    """The audit log, newest first, narrowed by account, actor, action and time."""
    args = request.args
    filters = {k: args.get(k, "").strip()[:255] for k in ("account", "actor", "action")}
    filters.update({k: args.get(k, "").strip()[:64] for k in ("since", "until")})
    errors: dict[str, str] = {}
    if filters["account"] and not ACCOUNT_ID.fullmatch(filters["account"]):
        errors["account"] = "an account id is 1-64 characters of A-Z a-z 0-9 _ . : @ -"
    where = AuditFilter(
        account_id=filters["account"] or None,
        actor=filters["actor"] or None,
        action=filters["action"] or None,
        since=_parse_bound(filters["since"], "since", errors),
        until=_parse_bound(filters["until"], "until", errors),
    )
    before = args.get("before", "")
    events: list[AuditEvent] = []
    older: int | None = None
    if not errors:
        events, older = find_events(
            db.session(),
            where,
            limit=PAGE,
            # ASCII digits only: str.isdigit() accepts '²', which int() rejects.
            before_id=int(before) if re.fullmatch(r"[0-9]{1,18}", before) else None,
        )
    shown = {k: v for k, v in filters.items() if v}
    body = render_template(
        "admin/audit.html",
        events=events,
        older=older,
        is_first=not before,
        filters=filters,
        shown=shown,
        errors=errors,
        actions=KNOWN_ACTIONS,
    )
    return body, 400 if errors else 200
