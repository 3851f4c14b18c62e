"""The reader's own /account page: the past commenter's notice and a ban with its end."""

from __future__ import annotations

import html
import re
import urllib.parse
from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import T0, Keys
from tests.factories import add_subscription, ban, grant
from tests.support.responses import json_object


def sign_in(app: Flask, keys: Keys, account_id: str) -> FlaskClient:
    """Do what the site's backend does: ask for a hand-off, send the reader through it."""
    client = app.test_client()
    response = client.post(
        f"/v1/accounts/{account_id}/handoffs",
        headers=keys.header("tokens:issue"),
        json={"next": "/account"},
    )
    assert response.status_code == 201, response.json
    url = urllib.parse.urlsplit(json_object(response)["url"])
    assert client.get(f"{url.path}?{url.query}").status_code == 303
    return client


def page(client: FlaskClient) -> str:
    response = client.get("/account")
    assert response.status_code == 200
    return " ".join(html.unescape(response.get_data(as_text=True)).split())


def test_a_past_commenter_is_told_when_commenting_ends_and_offered_plus(
    app: Flask, keys: Keys
) -> None:
    grant(app, "old-timer", "comment", now=T0, kind="grandfather", ends_at=T0 + timedelta(days=30))
    text = page(sign_in(app, keys, "old-timer"))
    assert (
        "Your commenting access as a past commenter ends on February 14, 2026. "
        "Subscribe to Plus to preserve your ability to comment."
    ) in text
    assert re.search(r'<a class="button" id="subscribe" href="/subscribe">Subscribe to Plus</a>',
                     text)


def test_the_notice_follows_the_grandfather_policy_end(make_app: Callable[..., Flask]) -> None:
    # The default end of the grandfather period is before T0: move it after.
    app = make_app(GRANDFATHER_UNTIL="2026-03-01T00:00:00Z")
    grant(app, "old-timer", "comment", now=T0, kind="grandfather", ends_by_policy=True)
    text = page(sign_in(app, Keys(app), "old-timer"))
    assert (
        "Your commenting access as a past commenter ends on March 1, 2026. "
        "Subscribe to Plus to preserve your ability to comment."
    ) in text


def test_a_plus_subscriber_who_commented_before_is_not_asked_to_subscribe(
    app: Flask, keys: Keys
) -> None:
    grant(app, "both", "comment", now=T0, kind="grandfather", ends_at=T0 + timedelta(days=30))
    add_subscription(app, "both", now=T0)
    text = page(sign_in(app, keys, "both"))
    assert "as a past commenter" not in text
    assert "Renews on" in text


def test_a_banned_reader_sees_the_ban_and_its_end(app: Flask, keys: Keys) -> None:
    grant(app, "heckler", "comment", now=T0)
    ban(app, "heckler", now=T0, ends_at=T0 + timedelta(days=10), reason="personal attacks")
    text = page(sign_in(app, keys, "heckler"))
    assert "Commenting is suspended until 2026-01-25 12:00 UTC." in text
    # The reason is the admins' note: the reader never sees it.
    assert "personal attacks" not in text
    assert "Comment on articles" not in text


def test_a_banned_reader_sees_the_public_message_the_admin_wrote(app: Flask, keys: Keys) -> None:
    ban(app, "heckler", now=T0, reason="looks like a sock puppet of troll-2",
        public_message="Your comments are on hold until our moderators review them.")
    text = page(sign_in(app, keys, "heckler"))
    assert "Your comments are on hold until our moderators review them." in text
    assert "sock puppet" not in text


def test_a_permanent_ban_says_so(app: Flask, keys: Keys) -> None:
    ban(app, "troll", now=T0, reason="threats")
    text = page(sign_in(app, keys, "troll"))
    assert "Commenting is suspended." in text
    assert "threats" not in text
