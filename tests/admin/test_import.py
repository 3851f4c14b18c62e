"""Grandfather import: a dry-run preview, then a commit of exactly the previewed file."""

from __future__ import annotations

import hashlib
import html
import io
from typing import Any

from flask import Flask
from sqlalchemy import func, select, update
from werkzeug.datastructures import FileStorage
from werkzeug.test import TestResponse, encode_multipart

from entitlements import db
from entitlements.admin import imports
from entitlements.models import Account, AdminUpload, Grant
from tests.admin.conftest import EMAIL, Console
from tests.conftest import FakeClock
from tests.factories import grant

CSV = (
    b"account_id,last_commented_at\n"
    b"old-1,2023-05-01T10:00:00Z\n"
    b"old-2,2024-01-10\n"
    b"late-1,2024-06-01T00:00:00Z\n"
    b"bad id!,2023-01-01\n"
    b"old-3,not a time\n"
    b"old-1,2023-06-01\n"
)
SHA = hashlib.sha256(CSV).hexdigest()


def text(response: TestResponse) -> str:
    return html.unescape(response.get_data(as_text=True))


def upload(console: Console, data: bytes = CSV, name: str = "commenters.csv") -> TestResponse:
    """Post the upload form as a browser does."""
    console.get("/admin/import")
    # Encoded here: the test client spools large bodies to a temporary file it never closes.
    boundary, body = encode_multipart(
        {"csrf": console.token, "file": FileStorage(io.BytesIO(data), name, "file")}
    )
    return console.client.post(
        "/admin/import", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )


def commit(console: Console, **fields: Any) -> TestResponse:
    """Post the commit form as the preview of CSV renders it (fields may be overridden)."""
    return console.post("/admin/import/commit", {"sha256": SHA, "new": "2", "invalid": "3",
                                                 **fields})


def grandfathered(app: Flask) -> list[str]:
    with app.app_context():
        return sorted(
            db.session().scalars(select(Grant.account_id).where(Grant.kind == "grandfather"))
        )


def uploads(app: Flask) -> int:
    with app.app_context():
        return int(db.session().scalar(select(func.count()).select_from(AdminUpload)) or 0)


def accounts(app: Flask) -> int:
    with app.app_context():
        return int(db.session().scalar(select(func.count()).select_from(Account)) or 0)


def test_the_preview_counts_every_line_and_writes_no_grant(signed_in: Console) -> None:
    response = upload(signed_in)
    assert response.status_code == 200
    page = text(response)
    assert 'id="count-rows">6<' in page
    assert 'id="count-new">2<' in page
    assert 'id="count-after">1<' in page
    assert 'id="count-invalid">3<' in page
    assert "<td>5</td><td>bad account id 'bad id!'" in page
    assert "<td>6</td><td>bad timestamp 'not a time'" in page
    assert "<td>7</td><td>duplicate of line 2 (old-1)" in page
    assert "Import 2 accounts" in page
    assert "The 3 invalid rows will be skipped." in page
    assert SHA in page
    assert grandfathered(signed_in.app) == []
    assert accounts(signed_in.app) == 0
    [event] = signed_in.audit("grandfather.preview")
    assert event.actor == f"admin:{EMAIL}"
    assert event.after is not None
    assert event.after["new"] == 2
    assert event.after["file_sha256"] == SHA


def test_the_commit_imports_exactly_the_previewed_file(signed_in: Console) -> None:
    upload(signed_in)
    response = commit(signed_in)
    assert response.status_code == 303
    assert grandfathered(signed_in.app) == ["old-1", "old-2"]
    [event] = signed_in.audit("grandfather.import")
    assert event.actor == f"admin:{EMAIL}"
    assert event.subject_id == SHA
    assert event.request_id
    assert uploads(signed_in.app) == 0
    done = text(signed_in.get("/admin/import"))
    assert (
        "Imported 2 accounts from commenters.csv as past commenters; 3 invalid rows skipped."
    ) in done


def test_a_second_commit_of_the_same_preview_imports_nothing(signed_in: Console) -> None:
    upload(signed_in)
    commit(signed_in)
    again = commit(signed_in)
    assert again.status_code == 400
    assert "no previewed file to import" in text(again)
    assert len(signed_in.audit("grandfather.import")) == 1


def test_only_the_file_last_previewed_in_this_session_can_be_committed(
    signed_in: Console,
) -> None:
    upload(signed_in)
    upload(signed_in, b"account_id,last_commented_at\nother,2023-01-01\n", "other.csv")
    response = commit(signed_in)  # names the first file
    assert response.status_code == 400
    assert grandfathered(signed_in.app) == []


def test_another_browser_cannot_commit_an_upload_it_did_not_preview(
    signed_in: Console, app: Flask
) -> None:
    upload(signed_in)
    other = Console(app, app.test_client())
    other.login()
    assert commit(other).status_code == 400
    assert grandfathered(app) == []


def test_if_the_accounts_changed_since_the_preview_it_is_shown_again(
    signed_in: Console, clock: FakeClock
) -> None:
    upload(signed_in)
    grant(signed_in.app, "old-1", "comment", now=clock.now, kind="grandfather")
    response = commit(signed_in)
    assert response.status_code == 409
    page = text(response)
    assert "The accounts changed since your preview" in page
    assert 'id="count-new">1<' in page
    assert grandfathered(signed_in.app) == ["old-1"]
    assert signed_in.audit("grandfather.import") == []
    assert commit(signed_in, new="1").status_code == 303
    assert grandfathered(signed_in.app) == ["old-1", "old-2"]


def test_a_stored_file_that_no_longer_matches_its_hash_is_refused(signed_in: Console) -> None:
    upload(signed_in)
    with signed_in.app.app_context():
        session = db.session()
        session.execute(update(AdminUpload).values(content=CSV.replace(b"old-2", b"evil-9")))
        session.commit()
    response = commit(signed_in)
    assert response.status_code == 400
    assert "no longer matches" in text(response)
    assert grandfathered(signed_in.app) == []


def test_a_file_with_nothing_new_offers_no_import(signed_in: Console, clock: FakeClock) -> None:
    grant(signed_in.app, "old-1", "comment", now=clock.now, kind="grandfather")
    page = text(upload(signed_in, b"account_id,last_commented_at\nold-1,2023-01-01\n"))
    assert "Importing would change nothing." in page
    assert 'id="commit"' not in page


def test_unreadable_files_are_refused_before_anything_is_stored(signed_in: Console) -> None:
    cases = {
        b"": "Choose a CSV file.",
        b"\xff\xfe\x00bad": "not UTF-8",
        b"id,when\nx,2023-01-01\n": "line 1 must be the header account_id,last_commented_at",
    }
    for data, message in cases.items():
        response = upload(signed_in, data)
        assert response.status_code == 400
        assert message in text(response)
    assert uploads(signed_in.app) == 0
    assert signed_in.audit("grandfather.preview") == []


def test_an_oversized_upload_gets_a_page_not_a_crash(signed_in: Console, monkeypatch: Any) -> None:
    monkeypatch.setattr(imports, "MAX_UPLOAD", 1000)
    response = upload(signed_in, b"account_id,last_commented_at\n" + b"a,2023-01-01\n" * 200)
    assert response.status_code == 413
    assert "too large" in text(response)
    assert uploads(signed_in.app) == 0


def test_files_larger_than_the_api_limit_are_accepted_here(signed_in: Console) -> None:
    lines = [f"acct-{n:06d},2023-01-01T00:00:00Z" for n in range(40_000)]
    data = ("account_id,last_commented_at\n" + "\n".join(lines) + "\n").encode()
    assert len(data) > 1024 * 1024
    page = text(upload(signed_in, data))
    assert 'id="count-new">40000<' in page
