"""Short-lived signed hand-offs: the site's backend vouches for a reader's account id."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete
from sqlalchemy.orm import Session

from ..errors import InvalidError
from ..models import UsedHandoff
from ..models.base import dialect_insert

HANDOFF_TTL = timedelta(minutes=2)
# Used hand-offs are kept this long past their expiry, so a worker whose clock runs behind
# still finds the record of a link another worker accepted.
USED_KEPT_AFTER_EXPIRY = timedelta(hours=1)
NEXT_PAGES = ("/subscribe", "/account")


@dataclass(frozen=True)
class Handoff:
    """A verified hand-off: who the reader is and where they go next."""

    account_id: str
    next_page: str
    email: str | None
    jti: str
    expires_at: datetime


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt="entitlements.handoff.v1")


def create_handoff(
    *,
    secret_key: str,
    public_url: str,
    account_id: str,
    next_page: str,
    email: str | None,
    now: datetime,
) -> tuple[str, datetime]:
    """Return the one-time URL that signs the reader in, and when it expires."""
    if next_page not in NEXT_PAGES:
        raise InvalidError(f"next must be one of {', '.join(NEXT_PAGES)}", field="next")
    expires_at = now + HANDOFF_TTL
    token = _serializer(secret_key).dumps(
        {
            "sub": account_id,
            "next": next_page,
            "email": email,
            "jti": secrets.token_urlsafe(16),
            "exp": int(expires_at.timestamp()),
        }
    )
    return f"{public_url}/handoff?{urlencode({'token': token})}", expires_at


def redeem_handoff(session: Session, token: str, *, secret_key: str, now: datetime) -> Handoff:
    """Verify a hand-off and mark it used; each works once, within two minutes."""
    try:
        data = _serializer(secret_key).loads(token)
    except BadSignature as exc:
        raise InvalidError("this sign-in link is not valid; go back to the magazine") from exc
    expires_at = datetime.fromtimestamp(int(data["exp"]), UTC)
    if now >= expires_at:
        raise InvalidError("this sign-in link has expired; go back to the magazine")
    # An expired link is refused above, so its record is no longer needed: the table holds only
    # the last hour's sign-ins rather than every one ever made.
    session.execute(
        delete(UsedHandoff).where(UsedHandoff.expires_at < now - USED_KEPT_AFTER_EXPIRY)
    )
    inserted = session.execute(
        dialect_insert(session, UsedHandoff)
        .values(jti=data["jti"], account_id=data["sub"], expires_at=expires_at, used_at=now)
        .on_conflict_do_nothing(index_elements=["jti"])
        .returning(UsedHandoff.jti)
    ).first()
    if inserted is None:
        raise InvalidError("this sign-in link was already used; go back to the magazine")
    return Handoff(data["sub"], data["next"], data.get("email"), data["jti"], expires_at)
