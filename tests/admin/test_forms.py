"""Grant, extend, revoke, ban and lift from the account page: happy paths, errors, audit."""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
from flask import Flask
from sqlalchemy import func, select

from entitlements import db
from entitlements.models import Account, AuditEvent, Ban, Grant
from tests.admin.conftest import EMAIL, Console, make_admin
from tests.conftest import T0, FakeClock
from tests.factories import ban, grant

ACTOR = f"admin:{EMAIL}"
PAGE = "/admin/accounts/reader-1"


def rows(app: Flask) -> dict[str, int]:
    """Count the rows every form could write."""
    with app.app_context():
        session = db.session()
        return {
            model.__tablename__: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Account, Grant, Ban, AuditEvent)
        }


def text(response: object) -> str:
    return html.unescape(response.get_data(as_text=True))  # type: ignore[attr-defined]


Row = TypeVar("Row", Grant, Ban)


def one(app: Flask, model: type[Row]) -> Row:
    with app.app_context():
        [row] = db.session().scalars(select(model))
        return row


# ---- grant -----------------------------------------------------------------------------------


def test_granting_a_comp_feature_writes_the_grant_and_its_audit_record(
    signed_in: Console,
) -> None:
    signed_in.get(PAGE)
    response = signed_in.post(
        f"{PAGE}/grants",
        {"feature": "archive", "kind": "comp", "until": "2026-06-30", "reason": "press pass"},
        headers={"X-Request-Id": "req-grant-1"},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == PAGE
    row = one(signed_in.app, Grant)
    assert (row.feature, row.kind, row.reason) == ("archive", "comp", "press pass")
    assert row.actor == ACTOR
    assert row.ends_at == T0.replace(month=6, day=30, hour=0)
    [event] = signed_in.audit("grant.add")
    assert (event.actor, event.request_id, event.account_id) == (ACTOR, "req-grant-1", "reader-1")
    assert event.reason == "press pass"
    page = text(signed_in.get(PAGE))
    assert "Granted archive to reader-1 (2026-06-30)." in page
    assert "The archive until 2026-06-30 as a complimentary grant." in page


def test_a_grandfather_grant_without_an_end_follows_the_policy(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(GRANDFATHER_UNTIL="2026-06-30T00:00:00Z")
    make_admin(app)
    console = Console(app, app.test_client())
    console.login()
    console.get(PAGE)
    form = {"feature": "comment", "kind": "grandfather", "reason": "x"}
    assert console.post(f"{PAGE}/grants", form).status_code == 303
    row = one(app, Grant)
    assert row.ends_by_policy
    assert row.ends_at is None
    assert "Comments until 2026-06-30 as a past commenter." in text(console.get(PAGE))


def test_once_the_grandfather_period_ended_a_grant_needs_its_own_end(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(GRANDFATHER_UNTIL="2025-02-28T00:00:00Z")
    make_admin(app)
    console = Console(app, app.test_client())
    console.login()
    console.get(PAGE)
    before = rows(app)
    form = {"feature": "comment", "kind": "grandfather", "reason": "x"}
    response = console.post(f"{PAGE}/grants", form)
    assert response.status_code == 422  # a rule of time, not of the form's shape
    assert "the grandfather period ended at 2025-02-28T00:00:00Z" in text(response)
    assert rows(app) == before


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"feature": "archive", "reason": ""}, "a reason is required"),
        ({"feature": "archive", "reason": "   "}, "a reason is required"),
        ({"feature": "archive", "reason": "r" * 2001}, "at most 2000 characters"),
        ({"feature": "flying", "reason": "x"}, "feature must be one of"),
        ({"feature": "archive", "kind": "bribe", "reason": "x"}, "kind must be one of"),
        ({"feature": "archive", "until": "next week", "reason": "x"}, "a date like 2026-06-30"),
        ({"feature": "archive", "until": "2025-01-01", "reason": "x"}, "after the start"),
    ],
)
def test_a_bad_grant_form_writes_nothing_and_says_why(
    signed_in: Console, form: dict[str, str], message: str
) -> None:
    signed_in.get(PAGE)
    before = rows(signed_in.app)
    response = signed_in.post(f"{PAGE}/grants", {"kind": "comp", **form})
    # 422: the form is well formed but breaks a rule of time (an end before the start).
    assert response.status_code == (422 if message == "after the start" else 400)
    page = text(response)
    assert message in page
    assert 'id="grant-error"' in page
    assert rows(signed_in.app) == before


def test_a_failed_form_keeps_what_was_typed(signed_in: Console) -> None:
    signed_in.get(PAGE)
    response = signed_in.post(
        f"{PAGE}/grants", {"feature": "digital_edition", "kind": "comp", "until": "soon",
                           "reason": "contributor"}
    )
    page = text(response)
    assert 'value="soon"' in page
    assert ">contributor</textarea>" in page
    assert '<option value="digital_edition" selected>' in page


def test_an_invalid_account_id_is_refused(signed_in: Console) -> None:
    response = signed_in.post("/admin/accounts/bad%20id/grants", {"feature": "archive",
                                                                  "reason": "x"})
    assert response.status_code == 400
    assert "account id must be" in text(response)


# ---- extend and revoke -----------------------------------------------------------------------


def test_extending_a_grant_moves_its_end_and_is_audited(
    signed_in: Console, clock: FakeClock
) -> None:
    gid = grant(signed_in.app, "reader-1", "archive", now=clock.now,
                ends_at=clock.now + timedelta(days=3))
    signed_in.get(PAGE)
    response = signed_in.post(f"/admin/grants/{gid}/extend",
                              {"until": "2026-12-31", "reason": "renewed pass"})
    assert response.status_code == 303
    assert one(signed_in.app, Grant).ends_at == T0.replace(month=12, day=31, hour=0)
    [event] = signed_in.audit("grant.extend")
    assert event.actor == ACTOR
    assert event.before is not None
    assert event.before["ends_at"] == "2026-01-18T12:00:00Z"
    assert "Grant 1 now ends: 2026-12-31." in text(signed_in.get(PAGE))


def test_extending_to_no_end_removes_the_end(signed_in: Console, clock: FakeClock) -> None:
    gid = grant(signed_in.app, "reader-1", "archive", now=clock.now,
                ends_at=clock.now + timedelta(days=3))
    signed_in.get(PAGE)
    signed_in.post(
        f"/admin/grants/{gid}/extend", {"until": "", "no_end": "1", "reason": "for good"}
    )
    assert one(signed_in.app, Grant).ends_at is None


@pytest.mark.parametrize(
    ("form", "status", "message"),
    [
        ({"until": "2026-12-31", "reason": ""}, 400, "a reason is required"),
        ({"until": "31/12/2026", "reason": "x"}, 400, "a date like 2026-06-30"),
        ({"until": "", "reason": "x"}, 400, "to make the grant permanent"),
    ],
)
def test_a_bad_extend_form_writes_nothing(
    signed_in: Console, clock: FakeClock, form: dict[str, str], status: int, message: str
) -> None:
    gid = grant(signed_in.app, "reader-1", "archive", now=clock.now)
    signed_in.get(PAGE)
    before = rows(signed_in.app)
    response = signed_in.post(f"/admin/grants/{gid}/extend", form)
    assert response.status_code == status
    assert message in text(response)
    assert f'id="extend-{gid}-error"' in text(response)
    assert rows(signed_in.app) == before
    assert one(signed_in.app, Grant).ends_at is None


def test_revoking_a_grant_ends_it_now_and_is_audited(
    signed_in: Console, clock: FakeClock
) -> None:
    gid = grant(signed_in.app, "reader-1", "archive", now=clock.now)
    signed_in.get(PAGE)
    response = signed_in.post(f"/admin/grants/{gid}/revoke", {"reason": "pass expired"})
    assert response.status_code == 303
    row = one(signed_in.app, Grant)
    assert (row.revoked_at, row.revoked_by, row.revoke_reason) == (T0, ACTOR, "pass expired")
    assert [e.reason for e in signed_in.audit("grant.revoke")] == ["pass expired"]
    page = text(signed_in.get(PAGE))
    assert "every subscription or grant for it has ended" in page
    assert f'id="revoke-{gid}"' not in page


def test_revoking_needs_a_reason_and_cannot_happen_twice(
    signed_in: Console, clock: FakeClock
) -> None:
    gid = grant(signed_in.app, "reader-1", "archive", now=clock.now)
    signed_in.get(PAGE)
    before = rows(signed_in.app)
    missing = signed_in.post(f"/admin/grants/{gid}/revoke", {"reason": ""})
    assert missing.status_code == 400
    assert rows(signed_in.app) == before
    signed_in.post(f"/admin/grants/{gid}/revoke", {"reason": "done"})
    again = signed_in.post(f"/admin/grants/{gid}/revoke", {"reason": "again"})
    assert again.status_code == 409
    assert "already revoked" in text(again)


def test_an_unknown_grant_or_ban_is_not_found(signed_in: Console) -> None:
    signed_in.get("/admin/accounts")
    assert signed_in.post("/admin/grants/999/revoke", {"reason": "x"}).status_code == 404
    assert signed_in.post("/admin/bans/999/lift", {"reason": "x"}).status_code == 404
    huge = 2**70
    assert signed_in.post(f"/admin/grants/{huge}/extend", {"reason": "x"}).status_code == 404


# ---- ban and lift ----------------------------------------------------------------------------


def test_a_timed_ban_withholds_commenting_and_is_audited(signed_in: Console) -> None:
    grant(signed_in.app, "reader-1", "comment", now=T0, kind="grandfather")
    signed_in.get(PAGE)
    response = signed_in.post(
        f"{PAGE}/bans", {"feature": "comment", "until": "2026-02-01", "reason": "spam links"}
    )
    assert response.status_code == 303
    row = one(signed_in.app, Ban)
    assert (row.feature, row.reason, row.actor) == ("comment", "spam links", ACTOR)
    assert row.ends_at == datetime(2026, 2, 1, tzinfo=UTC)
    [event] = signed_in.audit("ban.add")
    assert (event.actor, event.account_id) == (ACTOR, "reader-1")
    page = text(signed_in.get(PAGE))
    assert "Banned reader-1 from comment until 2026-02-01." in page
    assert "Cannot comment: banned until 2026-02-01 (reason: spam links)." in page
    assert "(it would otherwise have it as a past commenter)" in page


def test_a_ban_without_an_end_is_permanent(signed_in: Console) -> None:
    signed_in.get(PAGE)
    signed_in.post(f"{PAGE}/bans", {"feature": "comment", "reason": "threats"})
    assert one(signed_in.app, Ban).ends_at is None
    assert "Cannot comment: banned permanently (reason: threats)." in text(signed_in.get(PAGE))


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"reason": ""}, "a reason is required"),
        ({"reason": "x" * 2001}, "at most 2000 characters"),
        ({"reason": "spam", "until": "2026-01-01"}, "must be in the future"),
        ({"reason": "spam", "until": "tomorrow"}, "a date like 2026-06-30"),
        ({"reason": "spam", "feature": "archive"}, "only comment can be banned"),
    ],
)
def test_a_bad_ban_form_writes_nothing(
    signed_in: Console, form: dict[str, str], message: str
) -> None:
    signed_in.get(PAGE)
    before = rows(signed_in.app)
    response = signed_in.post(f"{PAGE}/bans", {"feature": "comment", **form})
    assert response.status_code == (422 if message == "must be in the future" else 400)
    assert message in text(response)
    assert 'id="ban-error"' in text(response)
    assert rows(signed_in.app) == before


def test_the_ban_form_takes_a_message_for_the_reader_apart_from_the_note(
    signed_in: Console,
) -> None:
    signed_in.get(PAGE)
    response = signed_in.post(
        f"{PAGE}/bans",
        {"feature": "comment", "reason": "same person as troll-2",
         "public_message": "Commenting is paused while we review a report."},
    )
    assert response.status_code == 303
    row = one(signed_in.app, Ban)
    assert isinstance(row, Ban)
    assert row.public_message == "Commenting is paused while we review a report."
    page = text(signed_in.get(PAGE))
    assert "Reader sees: Commenting is paused while we review a report." in page
    assert "same person as troll-2" in page


def test_a_too_long_public_message_writes_nothing(signed_in: Console) -> None:
    signed_in.get(PAGE)
    before = rows(signed_in.app)
    response = signed_in.post(
        f"{PAGE}/bans", {"feature": "comment", "reason": "spam", "public_message": "m" * 501}
    )
    assert response.status_code == 400
    assert "public_message must be at most 500 characters" in text(response)
    assert rows(signed_in.app) == before


def test_a_reason_of_exactly_2000_characters_is_accepted(signed_in: Console) -> None:
    signed_in.get(PAGE)
    response = signed_in.post(f"{PAGE}/bans", {"feature": "comment", "reason": "r" * 2000})
    assert response.status_code == 303


def test_lifting_a_ban_restores_commenting_and_is_audited(
    signed_in: Console, clock: FakeClock
) -> None:
    grant(signed_in.app, "reader-1", "comment", now=clock.now)
    bid = ban(signed_in.app, "reader-1", now=clock.now)
    signed_in.get(PAGE)
    response = signed_in.post(f"/admin/bans/{bid}/lift", {"reason": "appeal upheld"})
    assert response.status_code == 303
    row = one(signed_in.app, Ban)
    assert (row.lifted_at, row.lifted_by, row.lift_reason) == (T0, ACTOR, "appeal upheld")
    assert [e.actor for e in signed_in.audit("ban.lift")] == [ACTOR]
    page = text(signed_in.get(PAGE))
    assert "Comments indefinitely as a complimentary grant." in page


def test_lifting_needs_a_reason_and_a_ban_in_force(signed_in: Console, clock: FakeClock) -> None:
    bid = ban(signed_in.app, "reader-1", now=clock.now, ends_at=clock.now + timedelta(minutes=10))
    signed_in.get(PAGE)
    before = rows(signed_in.app)
    missing = signed_in.post(f"/admin/bans/{bid}/lift", {"reason": " "})
    assert missing.status_code == 400
    assert f'id="lift-{bid}-error"' in text(missing)
    assert rows(signed_in.app) == before
    clock.advance(minutes=20)
    ended = signed_in.post(f"/admin/bans/{bid}/lift", {"reason": "late"})
    assert ended.status_code == 409
    assert rows(signed_in.app) == before
