"""Browser pages (subscriber pages, console, demo): which paths they are, their headers, errors."""

from __future__ import annotations

import logging

from flask import render_template, request
from markupsafe import escape
from werkzeug.wrappers import Response

log = logging.getLogger(__name__)

PAGE_PREFIXES = ("/subscribe", "/account", "/admin", "/demo", "/handoff")
PAGE_HEADERS = {
    # Every page shows who is signed in, most show account data: no cache may keep them.
    "Cache-Control": "no-store",
    # The pages need no script, so none may run. No form-action: the offer and billing forms
    # answer with a redirect to Stripe, and browsers apply form-action to redirects too.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    # The hand-off URL is never a referrer; no page URL leaves for other sites either.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def is_page_path(path: str) -> bool:
    """Tell whether `path` is a browser page rather than the JSON API."""
    # str.startswith with a tuple first: the API's requests (most of them) stop here cheaply.
    return path.startswith(PAGE_PREFIXES) and any(
        path == prefix or path.startswith(prefix + "/") for prefix in PAGE_PREFIXES
    )


def add_page_headers(response: Response) -> Response:
    """Add the pages' security headers, keeping any a blueprint set (the console's CSP)."""
    if is_page_path(request.path) and request.endpoint != "console.static":
        for name, value in PAGE_HEADERS.items():
            response.headers.setdefault(name, value)
    return response


def error_page(status: int, title: str, detail: str) -> str:
    """Render an error as the console's or the subscriber pages' message page."""
    console = request.path == "/admin" or request.path.startswith("/admin/")
    try:
        if console:
            return render_template("admin/message.html", title=title, message=detail)
        return render_template("message.html", title=title, message=detail, link=None)
    except Exception:
        # The error may come from rendering itself (or what it reads): a plain page then.
        log.exception("error page failed to render for a %s", status)
        return (
            f"<!doctype html><title>{escape(title)}</title>"
            f"<h1>{escape(title)}</h1><p>{escape(detail)}</p>"
        )
