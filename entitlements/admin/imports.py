"""Grandfather import: upload a CSV, preview what it would do, then import exactly that file.

The previewed bytes stay in `admin_uploads` under their SHA-256, named in the admin's session;
the commit re-reads those bytes, re-checks the hash and the counts, and only then imports.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from sqlalchemy import delete
from werkzeug.wrappers import Response

from .. import db
from ..errors import InvalidError
from ..http.console_session import admin_required, current_actor
from ..models import AdminUpload
from ..runtime import now, runtime
from ..services import grandfather
from ..services.audit import record

bp = Blueprint("imports", __name__)

PENDING = "admin_import_sha256"
# Past-commenter lists outgrow the API's 1 MiB body limit; this page alone takes more.
MAX_UPLOAD = 16 * 1024 * 1024
# A preview nobody commits is forgotten after a day.
UPLOAD_TTL = timedelta(days=1)
SHOWN_INVALID = 200


@bp.before_request
def _upload_limit() -> None:
    if request.endpoint == "console.imports.import_preview":
        request.max_content_length = MAX_UPLOAD


def _form(error: str | None) -> str:
    config = runtime().config
    return render_template(
        "admin/import.html",
        error=error,
        cutoff=config.grandfather_cutoff,
        warnings=grandfather.period_warnings(config.grandfather_until, now=now()),
    )


@bp.get("/import")
@admin_required
def import_form() -> str:
    """Show the upload form for a CSV of past commenters."""
    return _form(None)


def _preview_page(upload: AdminUpload, plan: grandfather.ImportPlan, notice: str | None) -> str:
    return render_template(
        "admin/import_preview.html",
        upload=upload,
        plan=plan,
        counts=plan.counts(),
        invalid=plan.invalid[:SHOWN_INVALID],
        notice=notice,
        until=runtime().config.grandfather_until,
        warnings=grandfather.period_warnings(runtime().config.grandfather_until, now=now()),
    )


@bp.post("/import")
@admin_required
def import_preview() -> str | tuple[str, int]:
    """Dry run: classify every line of the uploaded file and keep the file for the commit."""
    file = request.files.get("file")
    data = file.read() if file is not None else b""
    cutoff = runtime().config.grandfather_cutoff
    if not data:
        return _form("Choose a CSV file."), 400
    db_session = db.session()
    try:
        plan = grandfather.plan_for(db_session, grandfather.decode_csv(data), cutoff=cutoff)
    except InvalidError as exc:
        return _form(exc.detail), 400
    admin, at = g.admin, now()
    digest = grandfather.file_sha256(data)
    db_session.execute(delete(AdminUpload).where(AdminUpload.created_at < at - UPLOAD_TTL))
    upload = db_session.get(AdminUpload, (admin.id, digest))
    if upload is None:
        upload = AdminUpload(admin_id=admin.id, sha256=digest, content=data)
        db_session.add(upload)
    upload.filename = (file.filename if file is not None else None) or "upload.csv"
    upload.filename = upload.filename[-255:]
    upload.created_at = at
    record(
        db_session,
        current_actor(),
        action="grandfather.preview",
        subject_type="grandfather_import",
        subject_id=digest,
        account_id=None,
        now=at,
        after={**plan.counts(), "file_sha256": digest, "filename": upload.filename},
        reason="dry run: nothing imported",
    )
    db_session.commit()
    session[PENDING] = digest
    return _preview_page(upload, plan, None)


@bp.post("/import/commit")
@admin_required
def import_commit() -> Response | tuple[str, int]:
    """Import the previewed file, if it and what it would do are unchanged since the preview."""
    digest = request.form.get("sha256", "")
    admin = g.admin
    db_session = db.session()
    upload = db_session.get(AdminUpload, (admin.id, digest)) if digest else None
    if upload is None or session.get(PENDING) != digest:
        raise InvalidError("no previewed file to import: upload it again and check the preview")
    if grandfather.file_sha256(upload.content) != digest:
        raise InvalidError("the stored file no longer matches its preview: upload it again")
    cutoff = runtime().config.grandfather_cutoff
    plan = grandfather.plan_for(db_session, grandfather.decode_csv(upload.content), cutoff=cutoff)
    previewed = {k: request.form.get(k, "") for k in ("new", "invalid")}
    if previewed != {"new": str(len(plan.new)), "invalid": str(len(plan.invalid))}:
        # Another import or an admin changed the accounts since the preview: show it afresh.
        notice = "The accounts changed since your preview. Check this preview and import again."
        return _preview_page(upload, plan, notice), 409
    result = grandfather.apply_import(
        db_session,
        plan,
        actor=current_actor(),
        now=now(),
        file_sha256=digest,
        skip_invalid=True,
    )
    db_session.delete(upload)
    db_session.commit()
    session.pop(PENDING, None)
    flash(
        f"Imported {result.grants_created} account{'s' if result.grants_created != 1 else ''} "
        f"from {upload.filename} as past commenters"
        + (f"; {len(plan.invalid)} invalid rows skipped" if plan.invalid else "")
        + "."
    )
    return redirect(url_for("console.imports.import_form"), code=303)
