"""GET /v1/policy: the rules the comment service applies on its side, public and cacheable."""

from __future__ import annotations

from flask import Blueprint, Response, json

from ..clock import to_rfc3339
from ..runtime import runtime
from .openapi import document

bp = Blueprint("policy", __name__, url_prefix="/v1")

# How long a comment stays editable after posting; the comment service enforces it.
COMMENT_EDIT_WINDOW_SECONDS = 300
# The policy changes only with a deploy, so five minutes of caching costs little.
MAX_AGE = 300


@bp.get("/policy")
@document(
    "The comment policy: edit window and the grandfather period of past commenters.",
    responses={200: "Policy"},
    tag="policy",
)
def get_policy() -> Response:
    """Serve the comment policy with a public Cache-Control."""
    config = runtime().config
    body = {
        "comment_edit_window_seconds": COMMENT_EDIT_WINDOW_SECONDS,
        "grandfather_cutoff": to_rfc3339(config.grandfather_cutoff),
        "grandfather_until": to_rfc3339(config.grandfather_until),
    }
    response = Response(json.dumps(body), mimetype="application/json")
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE}"
    return response
