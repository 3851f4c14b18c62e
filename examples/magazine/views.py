"""The magazine's pages: article with comments, archive, digital edition, dev login, subscribe."""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from flask import (
    Blueprint,
    abort,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response

from entitlements_client import Entitlements, may_edit_comment

from .app import TOKEN_COOKIE, site
from .comments import Comment, clean_body
from .content import ARCHIVE, ARTICLE, EDITION
from .readers import (
    BY_ACCOUNT,
    READERS,
    Reader,
    display_name,
    fresh_entitlements,
    grandfather_notice,
    suspension,
)

bp = Blueprint("magazine", __name__, template_folder="templates")


# --- the reader and what they may do on this page load ---------------------------------------


def current_reader() -> Reader | None:
    """Return the reader signed in through the dev login, or None (an anonymous visitor)."""
    account_id = session.get("account_id")
    return BY_ACCOUNT.get(account_id) if isinstance(account_id, str) else None


def entitlements() -> Entitlements | None:
    """Return the signed-in reader's verified entitlements (None: anonymous), once per request."""
    if "reader_entitlements" not in g:
        reader = current_reader()
        g.reader_entitlements = None
        if reader is not None:
            settings = site().settings
            g.reader_entitlements, g.new_token = fresh_entitlements(
                site().client,
                site().verifier,
                reader.account_id,
                audience=settings.audience,
                reuse_cookie=settings.events_delivered,
                changed_at=site().changed_at.get(reader.account_id),
            )
    found: Entitlements | None = g.reader_entitlements
    return found


def holds(feature: str) -> bool:
    """Return whether the reader holds `feature` on this page load."""
    found = entitlements()
    return found is not None and found.has(feature)


@bp.after_app_request
def keep_token(response: Response) -> Response:
    """Keep a newly issued token in a cookie, only when change events can revoke it."""
    token = g.get("new_token")
    if token and site().settings.events_delivered:
        found = entitlements()
        assert found is not None
        response.set_cookie(
            TOKEN_COOKIE, token, expires=found.expires_at, httponly=True, samesite="Lax",
            secure=site().settings.secure_cookies,
        )
    return response


# --- forms ------------------------------------------------------------------------------------


def csrf_token() -> str:
    """Return this session's form token."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = session["csrf"] = secrets.token_urlsafe(24)
    return token


def check_csrf() -> None:
    """Refuse a form that does not carry this session's token."""
    expected = session.get("csrf")
    given = request.form.get("csrf", "")
    if not isinstance(expected, str) or not hmac.compare_digest(expected.encode(), given.encode()):
        abort(403)


@bp.app_context_processor
def _inject() -> dict[str, Any]:
    return {"reader": current_reader(), "csrf_token": csrf_token, "holds": holds}


@bp.app_template_filter("date")
def format_date(value: Any) -> str:
    """Format a UTC time as a date readers understand."""
    return value.strftime("%B %-d, %Y") if value else ""


def message(title: str, text: str, status: int, *, subscribe: bool = False) -> tuple[str, int]:
    """Render a short page that explains a refusal."""
    return render_template("message.html", title=title, message=text, subscribe=subscribe), status


# --- pages ------------------------------------------------------------------------------------


def editable(comment: Comment) -> bool:
    """Return whether the signed-in reader may still edit `comment`."""
    reader = current_reader()
    if reader is None or comment.account_id != reader.account_id or not holds("comment"):
        return False
    return may_edit_comment(comment.posted_at, site().clock(), site().client.policy())


@bp.get("/")
def article() -> str:
    """The article, its comments, and what this reader may do with them."""
    reader = current_reader()
    access = None
    if reader is not None:
        entitlements()  # the token first: it gates; the check only explains
        access = site().client.check(reader.account_id, fresh=not site().settings.events_delivered)
    comments = site().comments.list(ARTICLE.slug)
    return render_template(
        "article.html",
        article=ARTICLE,
        comments=comments,
        editable={c.id for c in comments if editable(c)},
        display_name=display_name,
        notice=grandfather_notice(access) if access is not None and holds("comment") else None,
        ban=suspension(access) if access is not None else None,
    )


@bp.post("/comments")
def post_comment() -> Response | tuple[str, int]:
    """Store a comment from a reader who holds `comment` on this request."""
    check_csrf()
    reader = current_reader()
    if reader is None or not holds("comment"):
        return message("You cannot comment", "Commenting is for Plus subscribers.", 403,
                       subscribe=True)
    body = clean_body(request.form.get("body", ""))
    if body is None:
        return message("Empty comment", "Write between 1 and 2000 characters.", 400)
    comment_id = site().comments.add(ARTICLE.slug, reader.account_id, body, now=site().clock())
    return redirect(url_for("magazine.article", _anchor=f"comment-{comment_id}"), code=303)


def own_comment(comment_id: int) -> Comment:
    """Return the signed-in reader's comment, or answer 404."""
    comment = site().comments.get(comment_id)
    reader = current_reader()
    if comment is None or reader is None or comment.account_id != reader.account_id:
        abort(404)
    return comment


EDIT_REFUSED = "Comments can be edited for 5 minutes after posting."


@bp.get("/comments/<int:comment_id>/edit")
def edit_form(comment_id: int) -> str | tuple[str, int]:
    """Offer to edit one's own comment while the window is open."""
    comment = own_comment(comment_id)
    if not editable(comment):
        return message("Too late to edit", EDIT_REFUSED, 403)
    return render_template("edit.html", comment=comment)


@bp.post("/comments/<int:comment_id>/edit")
def edit_comment(comment_id: int) -> Response | tuple[str, int]:
    """Save an edit, judged by the service's edit window at the time of saving."""
    check_csrf()
    comment = own_comment(comment_id)
    if not editable(comment):
        return message("Too late to edit", EDIT_REFUSED, 403)
    body = clean_body(request.form.get("body", ""))
    if body is None:
        return message("Empty comment", "Write between 1 and 2000 characters.", 400)
    site().comments.edit(comment.id, body, now=site().clock())
    return redirect(url_for("magazine.article", _anchor=f"comment-{comment.id}"), code=303)


@bp.get("/archive")
def archive() -> str | tuple[str, int]:
    """Back issues, for readers who hold `archive`."""
    if not holds("archive"):
        return message("The archive is for subscribers",
                       "Every issue since 1968 comes with Plus.", 403, subscribe=True)
    return render_template("archive.html", issues=ARCHIVE)


@bp.get("/edition")
def edition() -> str | tuple[str, int]:
    """This month's digital edition, for readers who hold `digital_edition`."""
    if not holds("digital_edition"):
        return message("The digital edition is for subscribers",
                       "Read the whole issue, as printed, with Plus.", 403, subscribe=True)
    return render_template("edition.html", contents=EDITION)


@bp.get("/subscribe")
def subscribe() -> Response | tuple[str, int]:
    """Send the reader to the service's subscribe page, signed in by a one-time hand-off."""
    reader = current_reader()
    if reader is None:
        return message("Sign in first", "Choose a reader on the sign-in page, then subscribe.",
                       401)
    # A hand-off creates nothing at the service until redeemed: a prefetched link costs nothing.
    handoff = site().client.handoff(
        reader.account_id, next_page="/subscribe", email=f"{reader.account_id}@example.com"
    )
    return redirect(handoff.url, code=303)


# --- the dev login ----------------------------------------------------------------------------


@bp.get("/login")
def login() -> str:
    """Pick one of the demo readers (no passwords: a demo)."""
    return render_template("login.html", readers=READERS)


@bp.post("/login")
def switch_reader() -> Response:
    """Become another demo reader, or the anonymous visitor."""
    check_csrf()
    account_id = request.form.get("account_id", "")
    csrf = session.get("csrf")
    session.clear()
    session["csrf"] = csrf
    if account_id in BY_ACCOUNT:
        session["account_id"] = account_id
    response = redirect(url_for("magazine.article"), code=303)
    response.delete_cookie(TOKEN_COOKIE)  # the previous reader's token leaves with them
    return response
