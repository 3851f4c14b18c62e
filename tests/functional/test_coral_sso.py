"""The Coral Talk SSO bridge: tokens Coral accepts (verified with PyJWT), refusals a site shows."""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient

from entitlements.api.policy import COMMENT_EDIT_WINDOW_SECONDS
from entitlements.config import ConfigError
from entitlements.config.coral import coral_sso, secret_bits
from entitlements.runtime import EXTENSION
from tests.conftest import FakeClock, Keys
from tests.factories import add_subscription, ban, grant
from tests.functional.test_openapi import _check
from tests.support.responses import json_object

ROOT = Path(__file__).resolve().parents[2]

ISSUE = "tokens:issue"
CORAL_SECRET = "ssosec_" + "f73a2830f6285e398ce7ba4917194f44c395ba76512096bc9da3c7f9c9c357dd"
READER = {"username": "Ada Reader", "email": "ada@example.com"}
PATH = "/v1/accounts/{account_id}/coral-sso-token"


@pytest.fixture
def real_time(clock: FakeClock) -> FakeClock:
    """Put the fake clock at the wall clock: PyJWT checks `exp` and `iat` against real time."""
    clock.now = datetime.now(UTC).replace(microsecond=0)
    return clock


@pytest.fixture
def coral_app(make_app: Callable[..., Flask]) -> Flask:
    """The app with the Coral bridge configured."""
    return make_app(CORAL_SSO_SECRET=CORAL_SECRET)


def post(client: FlaskClient, keys: Keys, account: str, body: Any = READER, **kw: Any) -> Any:
    headers = kw.pop("headers", keys.header(ISSUE))
    return client.post(f"/v1/accounts/{account}/coral-sso-token", headers=headers, json=body)


def decode(token: str, secret: str = CORAL_SECRET, *, verify_exp: bool = True) -> dict[str, Any]:
    """Verify as Coral does: HS256 only, with the shared secret; exp, iat and jti required."""
    claims: dict[str, Any] = jwt.decode(
        token,
        secret,
        algorithms=["HS256"],
        options={"require": ["exp", "iat", "jti"], "verify_exp": verify_exp},
    )
    return claims


def header_of(token: str) -> dict[str, Any]:
    part = token.split(".", maxsplit=1)[0]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def test_subscriber_gets_a_token_coral_verifies_with_the_plus_badge(
    coral_app: Flask, keys: Keys, real_time: FakeClock
) -> None:
    add_subscription(coral_app, "reader-1", now=real_time.now)
    response = post(coral_app.test_client(), Keys(coral_app), "reader-1")
    assert response.status_code == 201
    body = json_object(response)
    claims = decode(body["token"])
    assert set(claims) == {"jti", "iat", "exp", "user"}
    assert claims["user"] == {
        "id": "reader-1",
        "email": "ada@example.com",
        "username": "Ada Reader",
        "badges": ["PLUS"],
    }
    assert claims["iat"] == int(real_time.now.timestamp())
    assert claims["exp"] - claims["iat"] == 300
    assert len(claims["jti"]) >= 16
    assert header_of(body["token"]) == {"alg": "HS256", "typ": "JWT"}
    assert body["expires_at"] == datetime.fromtimestamp(claims["exp"], UTC).isoformat().replace(
        "+00:00", "Z"
    )
    with pytest.raises(jwt.InvalidSignatureError):
        decode(body["token"], secret=CORAL_SECRET + "x")


def test_grandfathered_commenter_gets_a_token_without_the_badge(
    coral_app: Flask, real_time: FakeClock
) -> None:
    grant(
        coral_app,
        "old-hand",
        "comment",
        kind="grandfather",
        now=real_time.now,
        ends_at=real_time.now + timedelta(days=30),
    )
    response = post(coral_app.test_client(), Keys(coral_app), "old-hand")
    assert response.status_code == 201
    claims = decode(json_object(response)["token"])
    # Sent empty, not left out: Coral keeps a claim a token omits, and with it a lapsed badge.
    assert claims["user"]["badges"] == []
    assert claims["user"]["id"] == "old-hand"


def test_token_never_outlives_the_answer(coral_app: Flask, real_time: FakeClock) -> None:
    end = real_time.now + timedelta(seconds=90)
    grant(coral_app, "short", "comment", now=real_time.now, ends_at=end)
    claims = decode(json_object(post(coral_app.test_client(), Keys(coral_app), "short"))["token"])
    assert claims["exp"] == int(end.timestamp())


def test_every_token_has_its_own_jti(coral_app: Flask, real_time: FakeClock) -> None:
    add_subscription(coral_app, "reader-1", now=real_time.now)
    client, header = coral_app.test_client(), Keys(coral_app).header(ISSUE)
    jtis = {
        decode(json_object(post(client, Keys(coral_app), "reader-1", headers=header))["token"])[
            "jti"
        ]
        for _ in range(5)
    }
    assert len(jtis) == 5


def test_reader_without_comment_is_told_to_subscribe(coral_app: Flask, clock: FakeClock) -> None:
    grant(coral_app, "ads-only", "ad_free", now=clock.now)
    response = post(coral_app.test_client(), Keys(coral_app), "ads-only")
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    body = json_object(response)
    assert body["reason"] == "subscribe to comment"
    assert body["feature"] == "comment"
    assert body["subscribe"] is True
    assert "token" not in body


def test_banned_reader_without_a_subscription_is_also_told_to_subscribe(
    coral_app: Flask, clock: FakeClock
) -> None:
    # The ban is what stops them first, and subscribing would not lift it: its message stays
    # the reason; `subscribe` says that once it ends they still need a subscription.
    ban(coral_app, "nosub", now=clock.now, ends_at=datetime(2026, 3, 1, tzinfo=UTC))
    body = json_object(post(coral_app.test_client(), Keys(coral_app), "nosub"))
    assert body["reason"] == "Commenting is suspended until 2026-03-01."
    assert body["subscribe"] is True
    add_subscription(coral_app, "sub", now=clock.now)
    ban(coral_app, "sub", now=clock.now, ends_at=datetime(2026, 3, 1, tzinfo=UTC))
    assert json_object(post(coral_app.test_client(), Keys(coral_app), "sub"))["subscribe"] is False
    grant(coral_app, "comp", "comment", now=clock.now)
    ban(coral_app, "comp", now=clock.now)
    assert json_object(post(coral_app.test_client(), Keys(coral_app), "comp"))["subscribe"] is False


def test_banned_subscriber_is_told_the_public_message_and_end(
    coral_app: Flask, clock: FakeClock
) -> None:
    add_subscription(coral_app, "loud", now=clock.now)
    end = datetime(2026, 2, 1, tzinfo=UTC)
    ban(coral_app, "loud", now=clock.now, ends_at=end, public_message="Cooling off, see rule 4.")
    response = post(coral_app.test_client(), Keys(coral_app), "loud")
    assert response.status_code == 403
    body = json_object(response)
    assert body["reason"] == "Cooling off, see rule 4."
    assert body["detail"] == body["reason"]
    assert body["ends_at"] == "2026-02-01T00:00:00Z"
    assert "abuse" not in json.dumps(body)  # the admins' note never reaches the reader


def test_ban_without_a_message_says_until_when_as_the_check_api_does(
    coral_app: Flask, clock: FakeClock
) -> None:
    grant(coral_app, "quiet", "comment", now=clock.now)
    ban(coral_app, "quiet", now=clock.now, ends_at=datetime(2026, 3, 1, tzinfo=UTC))
    ban(coral_app, "quiet", now=clock.now, ends_at=datetime(2026, 2, 1, tzinfo=UTC))
    client, keys = coral_app.test_client(), Keys(coral_app)
    body = json_object(post(client, keys, "quiet"))
    # Two bans: the reader is told when commenting really resumes, the later end.
    assert body["reason"] == "Commenting is suspended until 2026-03-01."
    assert body["ends_at"] == "2026-03-01T00:00:00Z"
    check = json_object(
        client.get("/v1/accounts/quiet/entitlements", headers=keys.header("entitlements:read"))
    )
    assert body["reason"] in [r["message"] for r in check["restrictions"]]


def test_permanent_ban_has_no_end(coral_app: Flask, clock: FakeClock) -> None:
    add_subscription(coral_app, "gone", now=clock.now)
    ban(coral_app, "gone", now=clock.now)
    body = json_object(post(coral_app.test_client(), Keys(coral_app), "gone"))
    assert body["reason"] == "Commenting is suspended."
    assert body["ends_at"] is None


def test_endpoint_needs_the_tokens_issue_scope(coral_app: Flask, clock: FakeClock) -> None:
    add_subscription(coral_app, "reader-1", now=clock.now)
    client, keys = coral_app.test_client(), Keys(coral_app)
    assert post(client, keys, "reader-1", headers={}).status_code == 401
    forbidden = post(client, keys, "reader-1", headers=keys.header("entitlements:read"))
    assert forbidden.status_code == 403
    # No `reason`: a site must not tell the reader to subscribe because its key is wrong.
    assert "reason" not in json_object(forbidden)
    assert post(client, keys, "bad id").status_code == 400


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**READER, "badges": ["PLUS"]}, "badges"),
        ({**READER, "username": "ada\x00"}, "username"),
        ({**READER, "username": "a" * 101}, "username"),
        ({**READER, "username": ""}, "username"),
        ({**READER, "username": " ada"}, "username"),
        ({**READER, "username": "ada\nsmith"}, "username"),
        ({**READER, "username": "Ada\u0085x"}, "username"),
        ({**READER, "username": "Ada\u009b31m"}, "username"),
        ({**READER, "username": "Ada\u202eredaeR"}, "username"),
        ({**READER, "username": "Ad\u200ba"}, "username"),
        ({**READER, "username": "\ufeffAdmin"}, "username"),
        ({**READER, "username": "Ada\u2028Evil"}, "username"),
        ({**READER, "username": "Ada\u00a0"}, "username"),
        ({**READER, "username": "\u3000Ada"}, "username"),
        ({**READER, "username": "Ada\ue000"}, "username"),
        ({**READER, "username": 7}, "username"),
        ({"email": "ada@example.com"}, "username"),
        ({**READER, "email": "no-at-sign"}, "email"),
        ({**READER, "email": "a@" + "b" * 253}, "email"),
        ({**READER, "email": "ada @example.com"}, "email"),
        ({**READER, "email": "ada@example.com\x00"}, "email"),
        ({**READER, "email": "a@x.com,b@y.com"}, "email"),
        ({**READER, "email": "a@x;b@y"}, "email"),
        ({**READER, "email": "<a@x.com>"}, "email"),
        ({**READER, "email": "a(comment)@x.com"}, "email"),
        ({**READER, "email": '"ab"@x.com'}, "email"),
        ({**READER, "email": "a@b@c.com"}, "email"),
        ({**READER, "email": "a\u0085@x.com"}, "email"),
        ({**READER, "email": "a\u202e@x.com"}, "email"),
        ({**READER, "email": "ada@\u0435xample.com"}, "email"),
        ({**READER, "email": "ada@localhost"}, "email"),
        ({**READER, "email": ".ada@example.com"}, "email"),
        ({**READER, "email": "ada.@example.com"}, "email"),
        ({**READER, "email": "a..da@example.com"}, "email"),
        ({**READER, "email": "ada@-example.com"}, "email"),
        ({**READER, "email": "ada@example-.com"}, "email"),
        ({**READER, "email": "ada@" + "e" * 64 + ".com"}, "email"),
        ({**READER, "email": "ada@example..com"}, "email"),
        ({"username": "ada"}, "email"),
    ],
)
def test_bad_bodies_are_400_naming_the_field(
    coral_app: Flask, clock: FakeClock, body: dict[str, Any], field: str
) -> None:
    add_subscription(coral_app, "reader-1", now=clock.now)
    response = post(coral_app.test_client(), Keys(coral_app), "reader-1", body)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    problem = json_object(response)
    assert problem.get("field") == field or problem.get("fields") == [field], problem


@pytest.mark.parametrize(
    "username",
    [
        "Ada\U000e0041",  # a tag character (Cf), beyond what a pattern states
        "\u0410dmin",  # Cyrillic A, then Latin letters: a look-alike of "Admin"
        "\u0391dmin",  # the Greek capital alpha
        "\u0301",  # a lone combining mark
        "\u0301Ada",  # a combining mark with nothing to combine with
        "A" + "\u0301" * 4,  # NFC makes the first one \u00c1: three stacked marks remain
        "A" + "\u0301" * 99,
        "\U0001f600" * 10,  # no letter or digit
        "Ada\U000f0000",  # private use beyond the BMP
        "Ada\u0378",  # unassigned
    ],
)
def test_usernames_beyond_the_pattern_are_422(
    coral_app: Flask, clock: FakeClock, username: str
) -> None:
    add_subscription(coral_app, "reader-1", now=clock.now)
    client = coral_app.test_client()
    response = post(client, Keys(coral_app), "reader-1", {**READER, "username": username})
    assert response.status_code == 422, username.encode("unicode_escape")
    assert json_object(response)["field"] == "username"
    _check(json_object(client.get("/openapi.json")), PATH, "post", response)


@pytest.mark.parametrize(
    ("sent", "signed"),
    [
        ("Ade\u0301le", "Ad\u00e9le"),  # NFC: Coral shows the composed form
        ("Zo\u00eb O'Brien-Smith", "Zo\u00eb O'Brien-Smith"),
        ("\u0410\u0434\u0430 Lovelace", "\u0410\u0434\u0430 Lovelace"),  # one script a word
        ("\u674e\u5c0f\u9f8d", "\u674e\u5c0f\u9f8d"),
        ("\u0938\u094d\u0924\u094d\u0930\u0940", "\u0938\u094d\u0924\u094d\u0930\u0940"),
        ("Ada \U0001f600", "Ada \U0001f600"),
        ("a@x.com, fine", "a@x.com, fine"),
    ],
)
def test_real_usernames_pass_normalised(
    coral_app: Flask, real_time: FakeClock, sent: str, signed: str
) -> None:
    add_subscription(coral_app, "reader-1", now=real_time.now)
    response = post(
        coral_app.test_client(), Keys(coral_app), "reader-1", {**READER, "username": sent}
    )
    assert response.status_code == 201, json_object(response)
    assert decode(json_object(response)["token"])["user"]["username"] == signed


@pytest.mark.parametrize(
    "email",
    ["ada@example.com", "Ada.Lovelace+coral@mail.example.co.uk", "o'brien@x-y.example", "a@b.c"],
)
def test_plain_emails_pass(coral_app: Flask, real_time: FakeClock, email: str) -> None:
    add_subscription(coral_app, "reader-1", now=real_time.now)
    response = post(
        coral_app.test_client(), Keys(coral_app), "reader-1", {**READER, "email": email}
    )
    assert response.status_code == 201
    assert decode(json_object(response)["token"])["user"]["email"] == email


def test_the_documented_patterns_are_the_ones_the_server_applies(
    coral_app: Flask, real_time: FakeClock
) -> None:
    document = json_object(coral_app.test_client().get("/openapi.json"))
    fields = document["components"]["schemas"]["CoralSSORequest"]["properties"]
    username, email = fields["username"], fields["email"]
    assert "NFC" in username["description"]
    assert "422" in username["description"]
    samples = ["Ada", "Ada\u0085", "Ada\u202e", " Ada", "Ada\u3000", "\ufeffA", "A\u2029B"]
    for sample in samples:
        fits = re.fullmatch(username["pattern"].strip("^$"), sample) is not None
        status = post(
            coral_app.test_client(), Keys(coral_app), "x", {**READER, "username": sample}
        ).status_code
        assert (status != 400) == fits, sample.encode("unicode_escape")
    for sample in ["a@b.c", "a@b", "a b@c.d", "a@b@c.d", '"a"@b.c']:
        fits = re.fullmatch(email["pattern"].strip("^$"), sample) is not None
        status = post(
            coral_app.test_client(), Keys(coral_app), "x", {**READER, "email": sample}
        ).status_code
        assert (status != 400) == fits, sample


def test_missing_or_non_json_body_is_400(coral_app: Flask, clock: FakeClock) -> None:
    client, keys = coral_app.test_client(), Keys(coral_app)
    url = "/v1/accounts/reader-1/coral-sso-token"
    assert client.post(url, headers=keys.header(ISSUE)).status_code == 400
    sent = client.post(url, headers=keys.header(ISSUE), data="username=ada")
    assert sent.status_code == 400


def test_without_a_secret_the_bridge_answers_404(
    app: Flask, client: FlaskClient, keys: Keys, clock: FakeClock
) -> None:
    add_subscription(app, "reader-1", now=clock.now)
    response = post(client, keys, "reader-1")
    assert response.status_code == 404
    assert "ENTITLEMENTS_CORAL_SSO_SECRET" in json_object(response)["detail"]
    # The scope is still checked first: an unknown caller learns nothing of the configuration.
    assert post(client, keys, "reader-1", headers={}).status_code == 401


def test_kid_goes_in_the_header_when_configured(
    make_app: Callable[..., Flask], real_time: FakeClock
) -> None:
    app = make_app(CORAL_SSO_SECRET=CORAL_SECRET, CORAL_SSO_KID="bef233358308a104f5")
    add_subscription(app, "reader-1", now=real_time.now)
    token = json_object(post(app.test_client(), Keys(app), "reader-1"))["token"]
    assert header_of(token) == {"alg": "HS256", "typ": "JWT", "kid": "bef233358308a104f5"}
    assert decode(token)["user"]["id"] == "reader-1"


def test_coral_ttl_setting_bounds_the_token(
    make_app: Callable[..., Flask], real_time: FakeClock
) -> None:
    app = make_app(CORAL_SSO_SECRET=CORAL_SECRET, CORAL_SSO_TTL="60s")
    add_subscription(app, "reader-1", now=real_time.now)
    claims = decode(json_object(post(app.test_client(), Keys(app), "reader-1"))["token"])
    assert claims["exp"] - claims["iat"] == 60


def test_a_long_token_ttl_does_not_stretch_coral_tokens(
    make_app: Callable[..., Flask], real_time: FakeClock
) -> None:
    # Only `exp` ends a Coral token: a refused reader keeps commenting this long at most.
    app = make_app(CORAL_SSO_SECRET=CORAL_SECRET, TOKEN_TTL="24h")
    add_subscription(app, "reader-1", now=real_time.now)
    claims = decode(json_object(post(app.test_client(), Keys(app), "reader-1"))["token"])
    assert claims["exp"] - claims["iat"] == 300


@pytest.mark.parametrize("ttl", ["29s", "6m", "24h"])
def test_coral_ttl_outside_30s_to_5m_stops_start_up(
    make_app: Callable[..., Flask], ttl: str
) -> None:
    with pytest.raises(ConfigError, match="ENTITLEMENTS_CORAL_SSO_TTL must be between 30s and 5m"):
        make_app(CORAL_SSO_SECRET=CORAL_SECRET, CORAL_SSO_TTL=ttl)


def test_an_answer_ending_within_the_second_is_503_retry_in_1s(
    coral_app: Flask, real_time: FakeClock
) -> None:
    # A token would expire the second it is issued (exp floors to iat): say so, do not sign it.
    grant(
        coral_app,
        "ending",
        "comment",
        now=real_time.now,
        ends_at=real_time.now + timedelta(milliseconds=400),
    )
    client = coral_app.test_client()
    response = post(client, Keys(coral_app), "ending")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.mimetype == "application/problem+json"
    assert "token" not in json_object(response)
    document = json_object(client.get("/openapi.json"))
    _check(document, PATH, "post", response)
    # One whole second left is a (one-second) token.
    grant(
        coral_app,
        "one-second",
        "comment",
        now=real_time.now,
        ends_at=real_time.now + timedelta(seconds=1),
    )
    token = json_object(post(client, Keys(coral_app), "one-second"))["token"]
    # Not checked against the wall clock: that second may be over by the time it is decoded.
    claims = decode(token, verify_exp=False)
    assert claims["exp"] - claims["iat"] == 1


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"CORAL_SSO_SECRET": "short"}, "at least 32 characters"),
        ({"CORAL_SSO_SECRET": CORAL_SECRET + "\n"}, "spaces or control characters"),
        ({"CORAL_SSO_SECRET": CORAL_SECRET[:30] + " " + CORAL_SECRET[30:]}, "spaces or control"),
        ({"CORAL_SSO_SECRET": CORAL_SECRET[:30] + "\x85" + CORAL_SECRET[30:]}, "control"),
        ({"CORAL_SSO_SECRET": CORAL_SECRET[:30] + "\u2028" + CORAL_SECRET[30:]}, "control"),
        ({"CORAL_SSO_KID": "k1"}, "without ENTITLEMENTS_CORAL_SSO_SECRET"),
        ({"CORAL_SSO_SECRET": CORAL_SECRET, "CORAL_SSO_KID": "a kid"}, "printable ASCII"),
    ],
)
def test_bad_coral_settings_stop_start_up(
    make_app: Callable[..., Flask], settings: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        make_app(**settings)
    assert CORAL_SECRET not in str(caught.value)


def test_production_refuses_a_weak_secret_and_one_equal_to_the_secret_key() -> None:
    weak = "ab" * 20
    with pytest.raises(ConfigError, match="too predictable") as caught:
        coral_sso(weak, None, secret_key="k" * 40, production=True)
    assert weak not in str(caught.value)
    # Development takes a long one, so a demo can use any placeholder.
    assert coral_sso(weak, None, secret_key="k" * 40, production=False) == (weak, None)
    strong = secrets.token_urlsafe(48)
    assert coral_sso(strong, "kid-1", secret_key="k" * 40, production=True) == (strong, "kid-1")
    with pytest.raises(ConfigError, match="differ from ENTITLEMENTS_SECRET_KEY"):
        coral_sso(strong, None, secret_key=strong, production=True)


@pytest.mark.parametrize(
    "weak",
    [
        "ssosec_0123456789abcdef0123456789abcdef",
        "ssosec_abcdefghijklmnopqrstuvwxyz0123456789",
        "ssosec_qwertyuiopasdfghjklzxcvbnm1234",
        "ssosec_CorrectHorseBatteryStaple2026!",
        "ssosec_" + "0123456789abcdef" * 4,
        "ssosec_9f3c1a7be2d4086c5b1e7a93d2",  # random-looking, but only 104 bits
    ],
)
def test_production_refuses_predictable_secrets_that_look_varied(weak: str) -> None:
    with pytest.raises(ConfigError, match="too predictable") as caught:
        coral_sso(weak, None, secret_key="k" * 40, production=True)
    assert weak not in str(caught.value)


def test_production_takes_the_secret_coral_generates() -> None:
    for _ in range(200):
        generated = "ssosec_" + secrets.token_hex(32)
        assert secret_bits(generated) >= 128
        assert coral_sso(generated, None, secret_key="k" * 40, production=True)[0] == generated
    assert secret_bits(CORAL_SECRET) >= 128


def test_the_secret_never_reaches_a_log_or_the_config_repr(
    make_app: Callable[..., Flask], real_time: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app = make_app(CORAL_SSO_SECRET=CORAL_SECRET, LOG_LEVEL="DEBUG")
    add_subscription(app, "reader-1", now=real_time.now)
    client, keys = app.test_client(), Keys(app)
    assert post(client, keys, "reader-1").status_code == 201
    assert post(client, keys, "nobody").status_code == 403
    assert post(client, keys, "reader-1", {"username": 1}).status_code == 400
    config = app.extensions[EXTENSION].config
    logging.getLogger("test").debug("config: %r", config)
    assert caplog.records, "nothing was logged: the check would prove nothing"
    assert CORAL_SECRET not in caplog.text
    assert CORAL_SECRET not in repr(config)


def test_responses_match_the_openapi_document(coral_app: Flask, real_time: FakeClock) -> None:
    client, keys = coral_app.test_client(), Keys(coral_app)
    document = json_object(client.get("/openapi.json"))
    operation = document["paths"][PATH]["post"]
    assert operation["security"] == [{"serviceKey": ["tokens:issue"]}]
    assert operation["requestBody"]["required"] is True
    add_subscription(coral_app, "reader-1", now=real_time.now)
    ban(coral_app, "banned", now=real_time.now)
    cases = [
        post(client, keys, "reader-1"),
        post(client, keys, "banned"),
        post(client, keys, "nobody"),
        post(client, keys, "reader-1", headers=keys.header("entitlements:read")),
        post(client, keys, "reader-1", {"username": "x"}),
        post(client, keys, "reader-1", {**READER, "username": "\u0410dmin"}),
        post(client, keys, "reader-1", headers={}),
        client.post(
            "/v1/accounts/reader-1/coral-sso-token",
            headers={**keys.header(ISSUE), "Content-Type": "application/json"},
            data=b"x" * (2 * 1024 * 1024),
        ),
    ]
    for response in cases:
        _check(document, PATH, "post", response)
    assert {r.status_code for r in cases} == {201, 400, 401, 403, 413, 422}
    refusal = operation["responses"]["403"]["description"]
    assert "`reason`" in refusal
    assert "lacks the scope" in refusal


def test_readme_maps_the_edit_window_to_coral_in_seconds() -> None:
    readme = (ROOT / "README.md").read_text()
    assert f"`editCommentWindowLength: {COMMENT_EDIT_WINDOW_SECONDS}`" in readme


def test_readme_says_what_really_ends_a_coral_session_and_a_lapsed_badge() -> None:
    section = (ROOT / "README.md").read_text().split("## Coral Talk", 1)[1].split("\n## ", 1)[0]
    flat = " ".join(section.split())
    # embed.logout() runs in the reader's browser: a courtesy, never the cut-off.
    assert "To cut them off at once" not in flat
    assert "`embed.logout()` runs in the reader's own browser" in flat
    assert "Only Coral's own suspension" in flat
    assert "`ENTITLEMENTS_CORAL_SSO_TTL`, 5 minutes" in flat
    assert "**Badges of a lapsed subscriber.**" in flat
    assert "`Retry-After: 1`" in flat
    assert "`subscribe`" in flat
