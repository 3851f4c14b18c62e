"""Liveness and readiness probes."""

from __future__ import annotations

from flask import Blueprint
from sqlalchemy import text

from .. import db
from .openapi import document

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@document("Liveness: the process answers.", responses={200: "Status"}, tag="operations")
def healthz() -> dict[str, str]:
    """Answer 200 while the process runs."""
    return {"status": "ok"}


@bp.get("/readyz")
@document(
    "Readiness: the database answers.",
    responses={200: "Status", 503: "Problem"},
    tag="operations",
)
def readyz() -> dict[str, str]:
    """Answer 200 when the database answers; the error handler turns a failure into 503."""
    db.session().execute(text("SELECT 1"))
    return {"status": "ready"}
