"""Admins: create, list, disable, and sign in with argon2 passwords under database throttles.

Takes a session, never commits; imports no Flask so the CLI and the console share it.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..clock import to_rfc3339
from ..errors import ConflictError, InvalidError, NotFoundError
from ..models import Admin
from . import sign_in_throttle
from .audit import Actor, record

MIN_PASSWORD = 12
MAX_PASSWORD = 1024
# Deliberately loose: the address is an identifier typed by an operator, not a mailbox we write to.
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,63}")


class Passwords:
    """An argon2id hasher and a dummy hash, so unknown emails cost as much as known ones."""

    def __init__(self, hasher: PasswordHasher) -> None:
        self.hasher = hasher
        self._dummy: str | None = None

    def hash(self, password: str) -> str:
        """Return the PHC string of `password`."""
        return self.hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """Return whether `password` matches `stored` (None: compare against the dummy)."""
        if self._dummy is None:
            # Made on first use, not at import: hashing takes a tenth of a second.
            self._dummy = self.hasher.hash(secrets.token_urlsafe(16))
        try:
            return self.hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False


# argon2-cffi's defaults are RFC 9106's second recommended profile (argon2id, 64 MiB, t=3).
PASSWORDS = Passwords(PasswordHasher())


def admin_actor(admin: Admin, request_id: str | None) -> Actor:
    """Return the audit actor of an admin: `admin:<email>`."""
    return Actor(f"admin:{admin.email}", request_id)


def normalize_email(email: str) -> str:
    """Return the email lower-cased, or raise InvalidError if it is not an address."""
    value = email.strip().lower()
    if not EMAIL.fullmatch(value):
        raise InvalidError(f"{email.strip()[:80]!r} is not an email address", field="email")
    return value


def check_password(password: str) -> str:
    """Return the password if it is long enough (and not absurdly long), else raise."""
    if len(password) < MIN_PASSWORD:
        raise InvalidError(f"the password must be at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InvalidError(f"the password must be at most {MAX_PASSWORD} characters")
    return password


def generate_password() -> str:
    """Return a random password with about 144 bits of entropy."""
    return secrets.token_urlsafe(18)


def find_admin(session: Session, email: str) -> Admin | None:
    """Return the admin with this email (any case), or None."""
    return session.scalar(select(Admin).where(Admin.email == email.strip().lower()))


def create_admin(
    session: Session, email: str, password: str, *, actor: Actor, now: datetime
) -> Admin:
    """Create an admin; the audit record names the email, never the password."""
    address = normalize_email(email)
    check_password(password)
    if find_admin(session, address) is not None:
        raise ConflictError(f"an admin with email {address} exists")
    admin = Admin(
        email=address,
        password_hash=PASSWORDS.hash(password),
        created_at=now,
        failed_logins=0,
        session_generation=0,
    )
    session.add(admin)
    # Flush for the generated id, which the audit record names.
    session.flush()
    record(
        session,
        actor,
        action="admin.create",
        subject_type="admin",
        subject_id=address,
        account_id=None,
        now=now,
        after={"email": address, "created_at": to_rfc3339(now)},
    )
    return admin


def list_admins(session: Session) -> list[Admin]:
    """Return every admin, by email."""
    return list(session.scalars(select(Admin).order_by(Admin.email)))


def disable_admin(session: Session, email: str, *, actor: Actor, now: datetime) -> Admin:
    """Disable an admin; their open sessions stop working at their next request."""
    admin = session.scalar(
        select(Admin).where(Admin.email == email.strip().lower()).with_for_update()
    )
    if admin is None:
        raise NotFoundError(f"no admin with email {email.strip()[:80]!r} (see `admins list`)")
    if admin.disabled_at is not None:
        raise ConflictError(f"admin {admin.email} is already disabled")
    admin.disabled_at = now
    admin.session_generation += 1
    record(
        session,
        actor,
        action="admin.disable",
        subject_type="admin",
        subject_id=admin.email,
        account_id=None,
        now=now,
        before={"disabled_at": None},
        after={"disabled_at": to_rfc3339(now)},
    )
    return admin


@dataclass(frozen=True)
class SignIn:
    """The outcome of one sign-in attempt: the admin, or None (the reason is for the audit)."""

    admin: Admin | None
    failure: str | None = None


def sign_in(
    session: Session,
    email: str,
    password: str,
    *,
    client_address: str | None,
    request_id: str | None,
    now: datetime,
) -> SignIn:
    """Check a password under the throttles (sign_in_throttle.py), audit it, return the outcome."""
    address = email.strip().lower()[:254]
    admin = session.scalar(select(Admin).where(Admin.email == address).with_for_update())
    network = sign_in_throttle.client_network(client_address)
    attempt = sign_in_throttle.Attempt.start(session, network, now)
    # Verify even when there is no such admin or it is locked: equal work, equal timing.
    matches = PASSWORDS.verify(admin.password_hash if admin else None, password[:MAX_PASSWORD])
    failure = _failure(admin, matches, attempt)
    actor = Actor(f"admin:{address}" if admin else "anonymous", request_id)
    if failure is None:
        assert admin is not None
        attempt.succeed(admin)
        admin.last_login_at = now
        if PASSWORDS.hasher.check_needs_rehash(admin.password_hash):
            admin.password_hash = PASSWORDS.hash(password)
        _audit_attempt(session, actor, address, "admin.login", None, now=now)
        return SignIn(admin)
    if failure in {"throttled", "locked"}:
        # Refused by a lock: its failures were counted and audited when it was set. One row
        # per refused attempt would let anyone grow the append-only audit table at will.
        return SignIn(None, failure)
    locks = attempt.fail(admin if failure == "wrong password" else None)
    if admin is not None:
        # Failures for real admins are audited: bounded by the locks they lead to.
        after: dict[str, object] = {"reason": failure}
        after.update((k, to_rfc3339(v)) for k, v in locks.items() if k != "address_locked_until")
        _audit_attempt(session, actor, address, "admin.login_failed", after, now=now)
    if "address_locked_until" in locks:
        # Made-up emails are only counted, in the address's row; its lock is audited once.
        record(
            session,
            Actor("anonymous", request_id),
            action="admin.login_throttled",
            subject_type="address",
            subject_id=network,
            account_id=None,
            now=now,
            after={
                "failures": sign_in_throttle.ADDRESS_FAILURES,
                "locked_until": to_rfc3339(attempt.address.locked_until),
            },
        )
    return SignIn(None, failure)


def _failure(admin: Admin | None, matches: bool, attempt: sign_in_throttle.Attempt) -> str | None:
    if attempt.address_locked():
        return "throttled"
    if admin is None:
        return "unknown email"
    if admin.disabled_at is not None:
        return "disabled"
    if attempt.admin_locked(admin):
        return "locked"
    return None if matches else "wrong password"


def _audit_attempt(
    session: Session,
    actor: Actor,
    address: str,
    action: str,
    after: dict[str, object] | None,
    *,
    now: datetime,
) -> None:
    record(
        session,
        actor,
        action=action,
        subject_type="admin",
        subject_id=address or "-",
        account_id=None,
        now=now,
        after=after,
    )
