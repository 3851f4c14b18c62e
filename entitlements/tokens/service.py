"""Issue a token for an account: resolve its access, pick the signing key, sign."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from ..access import Access, Policy
from ..config import Config
from ..errors import InvalidError, UnavailableError
from ..services.accounts import access_for
from .issue import IssuedToken, issue_token
from .keys import ALGORITHM, KeyRing, rotate


def token_for_account(
    session: Session,
    account_id: str,
    *,
    audience: str | None,
    config: Config,
    policy: Policy,
    keyring: KeyRing,
    now: datetime,
) -> tuple[IssuedToken, Access]:
    """Return a signed token holding the account's access for one allowed audience."""
    audience = config.default_audience if audience is None else audience
    if audience not in config.token_audiences:
        raise InvalidError(
            f"audience must be one of {', '.join(config.token_audiences)}", field="audience"
        )
    access = access_for(session, account_id, now=now, policy=policy)
    signer = keyring.signer(session, now=now, token_ttl=config.token_ttl)
    if signer is None and not config.is_production:
        # Development generates its first key on first use; production never does.
        rotate(
            session,
            secret_key=config.secret_key,
            now=now,
            publish_delay=config.signing_key_publish_delay,
        )
        # Flush so the refreshed key ring sees the new row inside this transaction.
        session.flush()
        keyring.refresh(session)
        signer = keyring.signer(session, now=now, token_ttl=config.token_ttl)
    if signer is None:
        raise UnavailableError("no signing key is active; run `entitlements signing-keys rotate`")
    kid, key = signer
    token = issue_token(
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
    return token, access
