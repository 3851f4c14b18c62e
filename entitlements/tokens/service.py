"""Sign an account's access: pick the signing key (creating the first in development), sign."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.orm import Session

from ..access import Access
from ..config import Config
from ..errors import InvalidError, UnavailableError
from .issue import IssuedToken, issue_token
from .keys import ALGORITHM, KeyRing, rotate


def signing_key(
    session: Callable[[], Session], *, config: Config, keyring: KeyRing, now: datetime
) -> tuple[str, ec.EllipticCurvePrivateKey]:
    """Return the key that signs at `now`; development makes its first key on first use.

    `session` is called only when the key table must be read: most tokens need no database.
    """
    signer = keyring.signer(session, now=now)
    if signer is None and not config.is_production:
        rotate(
            session(),
            secret_key=config.secret_key,
            now=now,
            publish_delay=config.signing_key_publish_delay,
        )
        # Flush so the refreshed key ring sees the new row inside this transaction.
        session().flush()
        keyring.refresh(session())
        signer = keyring.signer(session, now=now)
    if signer is None:
        raise UnavailableError("no signing key is active; run `entitlements signing-keys rotate`")
    return signer


def sign_access(
    session: Callable[[], Session],
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
