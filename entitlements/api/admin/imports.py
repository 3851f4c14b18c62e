"""POST /v1/admin/grandfather/import: a CSV of past commenters, a dry run unless commit=true."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from ... import db
from ...clock import to_rfc3339
from ...errors import UnprocessableError
from ...http.bearer import admin_actor, require_admin
from ...http.body import read_body
from ...http.params import bool_arg, query_args
from ...http.problems import problem
from ...runtime import now, runtime
from ...services.grandfather import (
    ImportPlan,
    ImportResult,
    apply_import,
    decode_csv,
    file_sha256,
    invalid_summary,
    period_warnings,
    plan_for,
)
from ..openapi import document
from .common import TAG

# About 400 000 rows: a file larger than the app-wide 1 MiB limit is normal here.
MAX_IMPORT_BYTES = 16 * 1024 * 1024
MAX_INVALID_SHOWN = 1000

bp = Blueprint("imports", __name__)


@bp.before_request
def _allow_large_csv() -> None:
    # Set before anything reads the body (a console session's CSRF check reads the form).
    # Only this blueprint's view runs these hooks: the rest of the API keeps its 1 MiB limit.
    request.max_content_length = MAX_IMPORT_BYTES


def report_json(
    plan: ImportPlan,
    sha256: str,
    *,
    dry_run: bool,
    result: ImportResult | None = None,
    warnings: list[str] | None = None,
) -> dict[str, Any]:
    """Return the counts of a planned or applied import and its first invalid rows."""
    counts = plan.counts()
    if result is not None:
        counts["new"] = result.grants_created
        counts["already_grandfathered"] += result.granted_meanwhile
    return {
        "dry_run": dry_run,
        "file_sha256": sha256,
        "cutoff": to_rfc3339(plan.cutoff),
        **counts,
        "invalid_rows": [
            {"line": row.line, "reason": row.reason} for row in plan.invalid[:MAX_INVALID_SHOWN]
        ],
        "grants_created": result.grants_created if result else 0,
        "accounts_created": result.accounts_created if result else 0,
        "audit_event_id": result.audit_event_id if result else None,
        "warnings": warnings or [],
    }


@bp.post("/grandfather/import")
@document(
    "Import past commenters from CSV (account_id,last_commented_at): a dry run unless "
    "commit=true; invalid rows block a commit unless skip_invalid=true.",
    request_body="CsvFile",
    request_media="text/csv",
    body_required=True,
    query={
        "commit": {"type": "boolean", "default": False, "description": "Apply the import."},
        "dry_run": {"type": "boolean", "default": True, "description": "The inverse of commit."},
        "skip_invalid": {"type": "boolean", "default": False},
    },
    responses={
        200: "GrandfatherImport",
        201: "GrandfatherImport",
        400: "Problem",
        401: "Problem",
        403: "Problem",
        413: "Problem",
        415: "Problem",
        422: "Problem",
    },
    tag=TAG,
)
@require_admin
def import_grandfathered() -> Response | tuple[dict[str, Any], int]:
    """Plan (dry run: 200) or apply (201 when grants were created, else 200) an import."""
    args = query_args({"commit", "dry_run", "skip_invalid"})
    commit = bool_arg(args, "commit", default=False)
    if "dry_run" in args:
        dry_run = bool_arg(args, "dry_run", default=True)
        if "commit" in args and dry_run == commit:
            raise UnprocessableError("commit and dry_run contradict each other; give one of them")
        commit = not dry_run
    skip_invalid = bool_arg(args, "skip_invalid", default=False)
    if request.mimetype != "text/csv":
        return problem(
            415,
            "Unsupported media type",
            f"send the file as Content-Type: text/csv, not {request.mimetype or 'nothing'}",
        )
    data = read_body()
    sha256 = file_sha256(data)
    session = db.session()
    config = runtime().config
    plan = plan_for(session, decode_csv(data), cutoff=config.grandfather_cutoff)
    warnings = period_warnings(config.grandfather_until, now=now())
    if not commit:
        return report_json(plan, sha256, dry_run=True, warnings=warnings), 200
    if plan.invalid and not skip_invalid:
        raise UnprocessableError(
            invalid_summary(plan), **report_json(plan, sha256, dry_run=False, warnings=warnings)
        )
    result = apply_import(
        session,
        plan,
        actor=admin_actor(),
        now=now(),
        file_sha256=sha256,
        skip_invalid=skip_invalid,
    )
    session.commit()
    body = report_json(plan, sha256, dry_run=False, result=result, warnings=warnings)
    return body, 201 if result.grants_created else 200
