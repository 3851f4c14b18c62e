"""The console's change-events page: endpoints, failed deliveries, replay by a form."""

from __future__ import annotations

import html

from sqlalchemy import select, update

from entitlements import db
from entitlements.models import EventDelivery
from entitlements.services.audit import Actor
from entitlements.services.webhook_endpoints import add_endpoint
from tests.admin.conftest import EMAIL, Console
from tests.conftest import SECRET, T0, FakeClock
from tests.factories import grant


def _failed_delivery(console: Console, clock: FakeClock) -> tuple[int, int]:
    """Register an endpoint, change an account, give its delivery up; return (event, delivery)."""
    with console.app.app_context():
        session = db.session()
        add_endpoint(session, "https://comments.example.test/hook", event_types=(),
                     secret_key=SECRET, actor=Actor("test"), now=T0, production=False,
                     allow_private=False, description="comments")
        session.commit()
    grant(console.app, "reader-1", "comment", now=clock.now)
    with console.app.app_context():
        session = db.session()
        session.execute(update(EventDelivery).values(
            status="failed", attempts=17, last_status_code=500, last_error="HTTP 500"
        ))
        session.commit()
        delivery = session.scalars(select(EventDelivery)).one()
        return delivery.event_id, delivery.id


def test_the_page_lists_endpoints_and_failed_deliveries_and_is_linked_from_home(
    signed_in: Console, clock: FakeClock
) -> None:
    event_id, delivery_id = _failed_delivery(signed_in, clock)
    home = signed_in.get("/admin/").get_data(as_text=True)
    assert 'href="/admin/webhooks"' in home
    page = html.unescape(signed_in.get("/admin/webhooks").get_data(as_text=True))
    assert "https://comments.example.test/hook" in page
    assert "comments" in page
    assert f'id="replay-{delivery_id}"' in page
    assert f'action="/admin/webhooks/events/{event_id}/replay"' in page
    assert "HTTP 500" in page
    assert "whsec_" not in page


def test_replay_is_a_csrf_checked_audited_post(signed_in: Console, clock: FakeClock) -> None:
    event_id, _ = _failed_delivery(signed_in, clock)
    signed_in.get("/admin/webhooks")
    forged = signed_in.client.post(f"/admin/webhooks/events/{event_id}/replay", data={})
    assert forged.status_code in (400, 403)
    answer = signed_in.post(f"/admin/webhooks/events/{event_id}/replay")
    assert answer.status_code == 303
    (replay,) = signed_in.audit("webhook.replay")
    assert replay.actor == f"admin:{EMAIL}"
    with signed_in.app.app_context():
        delivery = db.session().scalars(select(EventDelivery)).one()
        assert delivery.status == "pending"
    page = signed_in.get("/admin/webhooks").get_data(as_text=True)
    assert "1 delivery(ies) due again" in page
    assert 'id="no-failed"' in page
    missing = signed_in.post("/admin/webhooks/events/999/replay")
    assert missing.status_code == 404


def test_the_page_needs_a_signed_in_admin(console: Console) -> None:
    answer = console.client.get("/admin/webhooks")
    assert answer.status_code == 303
    assert "/admin/login" in answer.headers["Location"]
