"""The public signing keys at the well-known JWKS path."""

from __future__ import annotations

from flask import Blueprint, Response, json
from sqlalchemy import select

from .. import db
from ..models import SigningKey
from ..runtime import now, runtime
from ..tokens.keys import jwks, key_states
from .openapi import document

bp = Blueprint("jwks", __name__)


@bp.get("/.well-known/jwks.json")
@document("Public keys that verify issued tokens.", responses={200: "JWKS"}, tag="tokens")
def jwks_json() -> Response:
    """Serve the public keys of every pending, active and retiring signing key."""
    rt = runtime()
    # Read the table itself, not the signing cache: a rotated key is published at once.
    rows = list(db.session().scalars(select(SigningKey)))
    body = jwks(key_states(rows, now=now(), token_ttl=rt.config.token_ttl))
    response = Response(json.dumps(body), mimetype="application/json")
    response.headers["Cache-Control"] = f"public, max-age={rt.config.jwks_max_age}"
    return response
