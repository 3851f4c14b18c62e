"""Sign an account's access: pick the signing key (creating the first in development), sign."""

from __future__ import annotations

from datetime import datetime

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..access import Access
from ..config import Config
from ..errors import InvalidError, UnavailableError
from ..models import SigningKey
from ..services.audit import Actor
from .issue import IssuedToken, issue_token
from .keys import ALGORITHM, KeyRing, rotate

# Who made a development key nobody asked for: at start-up, or on the first token.
STARTUP_ACTOR = Actor("system:startup")
FIRST_USE_ACTOR = Actor("system:first-use")


def create_first_key(
    session: Session, *, config: Config, now: datetime, actor: Actor
) -> SigningKey | None:
    """Create and audit the first signing key (signing at once) unless a key exists.

    Development only: production never generates a key (`signing-keys rotate` does, on purpose).
    """
    if config.is_production or session.scalar(select(SigningKey.kid).limit(1)) is not None:
        return None
    return rotate(
        session,
        secret_key=config.secret_key,
        now=now,
        publish_delay=config.signing_key_publish_delay,
        actor=actor,
        action="signing_key.create",
        reason="first signing key of a development instance",
    )


def signing_key(
    session: Session, *, config: Config, keyring: KeyRing, now: datetime
) -> tuple[str, ec.EllipticCurvePrivateKey]:
    """Return the key that signs at `now`; development makes its first key on first use.

    `session` is used only when the key table must be read: most tokens need no database.
    """
    signer = keyring.signer(session, now=now)
    if signer is None and not config.is_production:
        # The cached key table may predate a key made elsewhere: the first key is made only
        # when the table is empty, and the ring is reloaded either way.
        if create_first_key(session, config=config, now=now, actor=FIRST_USE_ACTOR):
            # Flush so the refreshed key ring sees the new row inside this transaction.
            session.flush()
        keyring.refresh(session)
        signer = keyring.signer(session, now=now)
    if signer is None:
        raise UnavailableError("no signing key is active; run `entitlements signing-keys rotate`")
    return signer


def sign_access(
    session: Session,
    access: Access,
    *,
    account_id: str,
    audience: str | None,
    config: Config,
    keyring: KeyRing,
    now: datetime,
) -> IssuedToken:
    """Return a signed token of an account's access for one allowed audience."""
    audience = config.default_audience if audience is None else audience
    if audience not in config.token_audiences:
        raise InvalidError(
            f"audience must be one of {', '.join(config.token_audiences)}", field="audience"
        )
    kid, key = signing_key(session, config=config, keyring=keyring, now=now)
    return issue_token(
        access,
        account_id=account_id,
        audience=audience,
        issuer=config.issuer,
        ttl=config.token_ttl,
        now=now,
        kid=kid,
        key=key,
        algorithm=ALGORITHM,
    )
