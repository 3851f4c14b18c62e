"""/demo: sign in as any account without a magazine site. Only with ENTITLEMENTS_DEMO=true."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request
from werkzeug.wrappers import Response

from ..http.csrf import check_csrf, csrf_token
from ..runtime import now, runtime
from ..services.accounts import validate_account_id
from ..tokens.handoff import NEXT_PAGES, create_handoff

bp = Blueprint("demo", __name__, template_folder="templates")

DEMO_ACCOUNTS = ("demo-reader", "demo-subscriber", "demo-grandfathered", "demo-comp", "demo-banned")


@bp.get("/demo")
def demo() -> str:
    """List the demo accounts with a sign-in button each."""
    return render_template("demo.html", accounts=DEMO_ACCOUNTS, csrf=csrf_token(),
                           site_url=runtime().config.site_url)


@bp.post("/demo/sign-in")
def sign_in() -> Response:
    """Play the magazine's backend: make a hand-off for the chosen account and follow it."""
    check_csrf()
    account_id = validate_account_id(request.form.get("account_id", "").strip())
    next_page = request.form.get("next", "/account")
    if next_page not in NEXT_PAGES:
        # Only the subscriber pages: anything else (off-site, CR/LF) goes to the account page.
        next_page = "/account"
    rt = runtime()
    url, _ = create_handoff(
        secret_key=rt.config.secret_key, public_url="", account_id=account_id,
        next_page=next_page, email=f"{account_id}@example.com", now=now(),
    )
    return redirect(url, code=303)
