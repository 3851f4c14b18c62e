"""The Coral Talk SSO bridge: which reader gets a Coral SSO token, what it says, why one is refused.

Coral v6+ verifies the token with HS256 and the tenant's SSO secret on every request
(coralproject/talk src/core/server/app/middleware/passport/strategies/verifiers/sso.ts): it
reads `jti`, `exp`, `iat` and `user.{id,email,username,badges}`, and picks the secret by the
header's `kid` while more than one is active.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from ..access import Access
from ..clock import to_rfc3339
from ..errors import ForbiddenError, UnavailableError
from .coral_reader import CoralReader
from .issue import IssuedToken, sign_hs256

COMMENT = "comment"
# Coral shows badges beside the username; this one marks a paying subscriber.
PLUS_BADGE = "PLUS"
SUBSCRIBE_REASON = "subscribe to comment"
# Coral checks a token on every request, but only its `exp` ends it: this long at most, a
# reader we refuse (banned, lapsed) keeps commenting.
CORAL_TTL_MAX = timedelta(minutes=5)


class AnswerChangingError(UnavailableError):
    """The answer ends within the second: a token would be born expired (503, retry in 1 s)."""

    retry_after = 1


def check_may_comment(access: Access, without_bans: Callable[[], Access]) -> None:
    """Raise a 403 whose `reason` the site can show, unless resolve() says the account comments.

    `subscribe` says whether commenting also needs a subscription: true unless the account
    would hold `comment` but for a ban (`without_bans` resolves it so, asked only then).
    """
    if COMMENT in access.features:
        return
    bans = [r for r in access.restrictions if r.feature == COMMENT]
    if not bans:
        raise ForbiddenError(
            SUBSCRIBE_REASON, reason=SUBSCRIBE_REASON, feature=COMMENT, subscribe=True
        )
    # Restrictions come ordered by end, permanent last: the last one is when commenting resumes.
    # The ban's message stays the reason even without a subscription: subscribing would not
    # lift it, and telling a banned reader to pay would be a trap.
    ban = bans[-1]
    raise ForbiddenError(
        ban.message,
        reason=ban.message,
        feature=COMMENT,
        ends_at=to_rfc3339(ban.ends_at),
        subscribe=COMMENT not in without_bans().features,
    )


def is_subscriber(access: Access) -> bool:
    """Return whether a subscription (not a grant) gives the account `comment`."""
    return any(s.feature == COMMENT and s.source == "subscription" for s in access.sources)


def issue_coral_sso_token(
    access: Access,
    reader: CoralReader,
    *,
    account_id: str,
    secret: str,
    kid: str | None,
    without_bans: Callable[[], Access],
    ttl: timedelta,
    now: datetime,
) -> IssuedToken:
    """Sign a Coral SSO token for a reader who holds `comment`; it never outlives the answer."""
    check_may_comment(access, without_bans)
    iat = int(now.timestamp())
    exp = iat + int(min(ttl, CORAL_TTL_MAX).total_seconds())
    if access.valid_until is not None:
        # Coral verifies the token on every request: past the answer's end it must not work.
        exp = min(exp, int(access.valid_until.timestamp()))
    if exp <= iat:
        # The answer changes within this second (floored to it): a token would be born
        # expired, and what follows may be a refusal. A moment later the answer is known.
        raise AnswerChangingError(
            "the account's access changes within the second; retry in 1 second"
        )
    jti = secrets.token_urlsafe(16)
    claims: dict[str, object] = {
        "jti": jti,
        "iat": iat,
        "exp": exp,
        "user": {
            "id": account_id,
            "email": reader.email,
            "username": reader.username,
            # Always sent, empty too: Coral keeps a claim the token leaves out, so a lapsed
            # subscriber would keep the badge (docs/docs/sso.md, "user.badges").
            "badges": [PLUS_BADGE] if is_subscriber(access) else [],
        },
    }
    token = sign_hs256(claims, secret=secret.encode("utf-8"), kid=kid)
    return IssuedToken(token, datetime.fromtimestamp(exp, UTC), jti)
