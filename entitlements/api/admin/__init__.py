"""The admin API under /v1/admin: one parent blueprint, a child blueprint per kind of record.

Every view: require an admin, parse strictly (unknown fields are 400), call one service,
commit once, answer JSON. Audit records name the admin as the actor.
"""

from __future__ import annotations

from flask import Blueprint

from . import accounts, audit, bans, grants, imports, webhooks

bp = Blueprint("admin", __name__, url_prefix="/v1/admin")
for child in (grants, bans, accounts, audit, imports, webhooks):
    bp.register_blueprint(child.bp)
