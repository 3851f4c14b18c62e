"""The demo readers of the dev login, and what the service says each may do on this page load."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from entitlements_client import Access, Entitlements, EntitlementsClient, TokenVerifier
from entitlements_client.errors import RevokedError
from entitlements_client.flask import current_entitlements


@dataclass(frozen=True)
class Reader:
    """A demo reader: a name on the site, an account at the service."""

    account_id: str
    name: str
    about: str


# Accounts of `entitlements demo load`; setup_demo.py adds what that demo lacks.
READERS = (
    Reader("demo-subscriber", "Sam Subscriber", "a Plus subscriber"),
    Reader("demo-grandfathered", "Grace Oldtimer", "a past commenter, grandfathered for now"),
    Reader("demo-grandfather-ended", "Ed Lapsed", "a past commenter whose grace period ended"),
    Reader("demo-banned", "Bo Banned", "a complimentary subscriber suspended from commenting"),
)
BY_ACCOUNT = {reader.account_id: reader for reader in READERS}


def display_name(account_id: str) -> str:
    """Return the name a comment is signed with."""
    reader = BY_ACCOUNT.get(account_id)
    return reader.name if reader else account_id


@dataclass(frozen=True)
class GrandfatherNotice:
    """A past commenter without a subscription comments until `ends_at`."""

    ends_at: datetime | None


@dataclass(frozen=True)
class Suspension:
    """Commenting withheld by a ban: the public message and its end (None: permanent)."""

    message: str | None
    ends_at: datetime | None


def fresh_entitlements(
    client: EntitlementsClient,
    verifier: TokenVerifier,
    account_id: str,
    *,
    audience: str,
    reuse_cookie: bool,
    changed_at: float | None = None,
) -> tuple[Entitlements, str | None]:
    """Return the reader's verified entitlements and a new token to keep (None: none issued).

    The token of an earlier page load is reused only when `reuse_cookie` says change events
    reach this site (they revoke it at once; otherwise a ban would wait for its expiry), and
    only when it was issued after the account's last change event (`changed_at`).
    """
    if reuse_cookie:
        kept = current_entitlements()  # the cookie's token, verified; None if expired/revoked
        if (
            kept is not None
            and kept.account_id == account_id
            and (changed_at is None or kept.issued_at.timestamp() > changed_at)
        ):
            return kept, None
    issued = client.token(account_id, audience)
    # Verified like any token: the site acts only on what the service's key signed.
    try:
        return verifier.verify(issued.token), issued.token
    except RevokedError:
        # A ban in this very second: `iat` is whole seconds, so the service's not_before (the
        # next second) refuses a token issued in the rest of it too. The next second's passes.
        time.sleep(1.05 - time.time() % 1.0)
        issued = client.token(account_id, audience)
        return verifier.verify(issued.token), issued.token


def grandfather_notice(access: Access) -> GrandfatherNotice | None:
    """Return the notice for a reader commenting as a past commenter without a subscription."""
    kinds = {s.source for s in access.sources if s.feature == "comment"}
    if "grandfather" not in kinds or "subscription" in kinds or not access.has("comment"):
        return None
    ends = [
        s.ends_at for s in access.sources if s.feature == "comment" and s.source == "grandfather"
    ]
    # Several grandfather grants: the reader keeps commenting until the last one ends.
    return GrandfatherNotice(None if None in ends else max(e for e in ends if e is not None))


def suspension(access: Access) -> Suspension | None:
    """Return the ban on commenting in force, if any."""
    for restriction in access.restrictions:
        if restriction.feature == "comment":
            return Suspension(restriction.message, restriction.ends_at)
    return None
