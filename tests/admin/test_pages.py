"""The account page in plain words, account search, the audit log, and the API by session."""

from __future__ import annotations

import html
from datetime import timedelta

from werkzeug.test import TestResponse

from tests.admin.conftest import EMAIL, Console
from tests.conftest import FakeClock
from tests.factories import add_subscription, ban, grant


def text(response: TestResponse) -> str:
    return html.unescape(response.get_data(as_text=True))


# ---- the account page ------------------------------------------------------------------------


def test_the_account_page_explains_every_feature_in_plain_words(
    signed_in: Console, clock: FakeClock
) -> None:
    app, now = signed_in.app, clock.now
    grant(app, "reader-1", "comment", now=now, kind="grandfather", ends_at=now + timedelta(days=30))
    add_subscription(app, "reader-1", now=now, status="canceled", lookup_key="plus_annual",
                     ended_at=now - timedelta(hours=1))
    grant(app, "reader-1", "archive", now=now, reason="press pass")
    page = text(signed_in.get("/admin/accounts/reader-1"))
    assert (
        "Comments until 2026-02-14 12:00 UTC as a past commenter; "
        "the archive indefinitely as a complimentary grant."
    ) in page
    # Features not held say why not.
    assert "every subscription or grant for it has ended" in page
    assert "Plus annual" in page
    assert "canceled" in page
    # The timeline lists the grants and their audit records.
    assert "grandfather grant of comment starts" in page
    assert "grant.add on grant 1" in page
    assert "<script" not in page


def test_a_subscriber_reads_through_plus_with_the_plan_interval(
    signed_in: Console, clock: FakeClock
) -> None:
    add_subscription(signed_in.app, "reader-2", now=clock.now, lookup_key="plus_annual",
                     current_period_end=clock.now + timedelta(days=300))
    page = text(signed_in.get("/admin/accounts/reader-2"))
    assert "No ads until 2026-11-13 12:00 UTC through Plus annual" not in page  # renewal grace
    assert "no ads until 2026-11-13 12:00 UTC through Plus annual" in page


def test_a_ban_reads_as_a_restriction_with_its_end(signed_in: Console, clock: FakeClock) -> None:
    grant(signed_in.app, "reader-3", "comment", now=clock.now, kind="grandfather")
    ban(signed_in.app, "reader-3", now=clock.now, ends_at=clock.now + timedelta(days=5),
        reason="personal attacks")
    page = text(signed_in.get("/admin/accounts/reader-3"))
    assert "No paid features: free articles only." in page
    assert "no subscription or grant gives it" in page  # ad_free, archive, digital edition
    assert "Cannot comment: banned until 2026-01-20 12:00 UTC (reason: personal attacks)." in page
    assert 'class="tag withheld"' in page


def test_a_grant_that_starts_later_says_when(signed_in: Console, clock: FakeClock) -> None:
    grant(signed_in.app, "reader-4", "archive", now=clock.now,
          starts_at=clock.now + timedelta(days=2))
    page = text(signed_in.get("/admin/accounts/reader-4"))
    assert "starts 2026-01-17 12:00 UTC as a complimentary grant" in page
    assert "starts later" in page


def test_an_unknown_account_can_still_be_granted_to(signed_in: Console) -> None:
    response = signed_in.get("/admin/accounts/new-reader")
    assert response.status_code == 200
    page = text(response)
    assert "knows nothing of this account yet" in page
    assert 'action="/admin/accounts/new-reader/grants"' in page


def test_a_malformed_account_id_is_a_bad_request(signed_in: Console) -> None:
    response = signed_in.get("/admin/accounts/" + "x" * 65)
    assert response.status_code == 400
    assert "account id must be" in text(response)


# ---- search ----------------------------------------------------------------------------------


def test_search_finds_accounts_by_id_part_and_stripe_customer(
    signed_in: Console, clock: FakeClock
) -> None:
    for account in ("reader-1", "reader-10", "writer-7"):
        grant(signed_in.app, account, "archive", now=clock.now)
    add_subscription(signed_in.app, "payer", now=clock.now)  # its customer is cus_payer
    by_part = text(signed_in.get("/admin/accounts?q=eader-1"))
    assert "reader-1" in by_part
    assert "reader-10" in by_part
    assert "writer-7" not in by_part
    by_customer = text(signed_in.get("/admin/accounts?q=cus_payer"))
    assert 'href="/admin/accounts/payer"' in by_customer
    everything = text(signed_in.get("/admin/accounts"))
    assert all(a in everything for a in ("reader-1", "reader-10", "writer-7", "payer"))


def test_search_treats_wildcards_as_text(signed_in: Console, clock: FakeClock) -> None:
    grant(signed_in.app, "reader-1", "archive", now=clock.now)
    page = text(signed_in.get("/admin/accounts?q=%25"))
    assert 'href="/admin/accounts/reader-1"' not in page
    assert 'id="no-match"' in page


def test_search_pages_through_many_accounts(signed_in: Console, clock: FakeClock) -> None:
    for n in range(55):
        grant(signed_in.app, f"acct-{n:03d}", "archive", now=clock.now)
    first = text(signed_in.get("/admin/accounts?q=acct"))
    assert "acct-049" in first
    assert "acct-050" not in first
    assert 'href="/admin/accounts?q=acct&after=acct-049"' in first.replace("&amp;", "&")
    second = text(signed_in.get("/admin/accounts?q=acct&after=acct-049"))
    assert "acct-050" in second
    assert "acct-054" in second
    assert 'id="next"' not in second


# ---- the audit log ---------------------------------------------------------------------------


def test_the_audit_log_filters_by_account_actor_action_and_time(
    signed_in: Console, clock: FakeClock
) -> None:
    grant(signed_in.app, "reader-1", "archive", now=clock.now)
    clock.advance(minutes=5)
    ban(signed_in.app, "reader-2", now=clock.now)
    clock.advance(minutes=5)
    signed_in.get("/admin/accounts/reader-1")
    signed_in.post("/admin/accounts/reader-1/bans", {"feature": "comment", "reason": "spam"})

    def actions(query: str) -> list[str]:
        page = signed_in.get(f"/admin/audit?{query}").get_data(as_text=True)
        return [a.split('"')[1] for a in page.split('data-action=')[1:]]

    assert actions("account=reader-1") == ["ban.add", "grant.add"]
    assert actions(f"actor=admin:{EMAIL}") == ["ban.add", "admin.login"]
    assert actions("action=ban.add") == ["ban.add", "ban.add"]
    assert actions("since=2026-01-15T12:01&until=2026-01-15T12:06") == ["ban.add"]
    assert actions("account=reader-1&action=grant.add") == ["grant.add"]


def test_bad_audit_filters_say_what_to_fix(signed_in: Console) -> None:
    response = signed_in.get("/admin/audit?since=yesterday&account=bad%20id")
    assert response.status_code == 400
    page = text(response)
    assert "use a date like 2026-01-31" in page
    assert "an account id is 1-64 characters" in page


def test_the_audit_log_pages_newest_first(signed_in: Console, clock: FakeClock) -> None:
    for n in range(60):
        grant(signed_in.app, f"acct-{n:03d}", "archive", now=clock.now)
    first = signed_in.get("/admin/audit?action=grant.add").get_data(as_text=True)
    assert first.count('data-action="grant.add"') == 50
    assert "acct-059" in first
    assert "acct-009" not in first
    older = first.split('id="older" href="')[1].split('"')[0].replace("&amp;", "&")
    second = signed_in.get(older).get_data(as_text=True)
    assert second.count('data-action="grant.add"') == 10
    assert "acct-000" in second
    assert 'id="older"' not in second
    assert 'id="newest"' in second


# ---- the admin API with a console session ----------------------------------------------------


def test_the_admin_api_accepts_a_console_session_with_the_csrf_header(
    signed_in: Console,
) -> None:
    client = signed_in.client
    body = {"account_id": "reader-1", "feature": "archive", "reason": "via the API"}
    assert client.get("/v1/admin/accounts?q=reader").status_code == 200
    refused = client.post("/v1/admin/grants", json=body)
    assert refused.status_code == 403
    created = client.post("/v1/admin/grants", json=body, headers={"X-CSRF-Token": signed_in.token})
    assert created.status_code == 201, created.json
    [event] = signed_in.audit("grant.add")
    assert event.actor == f"admin:{EMAIL}"


def test_the_admin_api_without_a_session_or_key_is_unauthorized(console: Console) -> None:
    assert console.client.get("/v1/admin/accounts").status_code == 401


def test_a_bad_key_is_not_rescued_by_a_session(signed_in: Console) -> None:
    response = signed_in.client.get(
        "/v1/admin/accounts", headers={"Authorization": "Bearer ent_sk_nope"}
    )
    assert response.status_code == 401
