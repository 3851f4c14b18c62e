"""Sign-in throttles, kept in the database so every worker counts the same failures.

Three counters, so that nobody can lock an admin out from somewhere else:
- per client address (IPv6: its /64), whatever the email: ADDRESS_FAILURES failures within
  WINDOW refuse that address for LOCKOUT, for every email (made-up ones included);
- per admin and address: MAX_FAILURES wrong passwords within WINDOW refuse that admin from
  that address only;
- per admin, from every address: ACCOUNT_FAILURES wrong passwords in a row refuse that admin
  for LOCKOUT, but only from addresses it has not signed in from in the last KNOWN_ADDRESS.
Attempts refused by a lock are neither counted again nor audited one by one.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..models import Admin, SignInThrottle
from ..models.base import dialect_insert

MAX_FAILURES = 5
ADDRESS_FAILURES = 20
ACCOUNT_FAILURES = 50
WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
KNOWN_ADDRESS = timedelta(days=30)
# Rows deleted per failed sign-in; each failure adds at most two, so pruning keeps up.
PRUNE_BATCH = 100


def client_network(remote_addr: str | None) -> str:
    """Return the network a client address is counted under: IPv4 itself, IPv6 its /64."""
    try:
        ip = ipaddress.ip_address((remote_addr or "").strip())
    except ValueError:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        # One subscriber line gets a whole /64: counting single IPv6 addresses bounds nothing.
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _row(session: Session, key: str, now: datetime) -> SignInThrottle:
    """Return the throttle row for `key`, created if missing, locked for update."""
    # Insert or touch, then read: two workers counting the first failure at once never
    # collide on the primary key. DO UPDATE (not DO NOTHING) locks the row it meets, so
    # another worker's prune of expired rows, which skips locked ones, cannot delete it
    # before the SELECT below reads it; the lock serializes the counts.
    statement = dialect_insert(session, SignInThrottle).values(
        key=key, failures=0, expires_at=now
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["key"], set_={"key": statement.excluded.key}
        )
    )
    return session.scalars(
        select(SignInThrottle)
        .where(SignInThrottle.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _is_locked(row: SignInThrottle | None, now: datetime) -> bool:
    return row is not None and row.locked_until is not None and row.locked_until > now


def _count(row: SignInThrottle, limit: int, now: datetime) -> bool:
    """Count one failure in the row's window; return whether it locks the row now."""
    if row.window_started_at is None or now - row.window_started_at >= WINDOW:
        row.failures, row.window_started_at = 0, now
    row.failures += 1
    locks = row.failures >= limit
    if locks:
        row.failures, row.window_started_at, row.locked_until = 0, None, now + LOCKOUT
    _refresh_expiry(row, now)
    return locks


def _refresh_expiry(row: SignInThrottle, now: datetime) -> None:
    ends = [now]
    if row.window_started_at is not None:
        ends.append(row.window_started_at + WINDOW)
    if row.locked_until is not None:
        ends.append(row.locked_until)
    if row.signed_in_at is not None:
        ends.append(row.signed_in_at + KNOWN_ADDRESS)
    row.expires_at = max(ends)


@dataclass
class Attempt:
    """The throttle rows of one sign-in attempt, locked until the transaction ends."""

    session: Session
    network: str
    now: datetime
    address: SignInThrottle
    pair: SignInThrottle | None = None

    @classmethod
    def start(cls, session: Session, network: str, now: datetime) -> Attempt:
        """Lock the address's row (after the admin's, if any: one lock order for all)."""
        return cls(session, network, now, _row(session, f"address:{network}", now))

    def address_locked(self) -> bool:
        """Return whether this address is refused for every email."""
        return _is_locked(self.address, self.now)

    def admin_locked(self, admin: Admin) -> bool:
        """Return whether `admin` is refused from this address (its own or the admin's lock)."""
        self.pair = _row(self.session, f"admin:{admin.id}:{self.network}", self.now)
        if _is_locked(self.pair, self.now):
            return True
        known = (
            self.pair.signed_in_at is not None
            and self.now - self.pair.signed_in_at < KNOWN_ADDRESS
        )
        account_locked = admin.locked_until is not None and admin.locked_until > self.now
        # An attack from elsewhere locks the admin out of new addresses, never of known ones.
        return account_locked and not known

    def fail(self, admin: Admin | None) -> dict[str, datetime | None]:
        """Count a failure against the address (and the admin); return the locks it set."""
        locks: dict[str, datetime | None] = {}
        if _count(self.address, ADDRESS_FAILURES, self.now):
            locks["address_locked_until"] = self.address.locked_until
        if admin is not None and self.pair is not None:
            if _count(self.pair, MAX_FAILURES, self.now):
                locks["locked_until"] = self.pair.locked_until
            admin.failed_logins += 1
            if admin.failed_logins >= ACCOUNT_FAILURES:
                admin.failed_logins = 0
                admin.locked_until = self.now + LOCKOUT
                locks["account_locked_until"] = admin.locked_until
        self._prune()
        return locks

    def succeed(self, admin: Admin) -> None:
        """Clear this admin's failures from this address and remember the address as known."""
        assert self.pair is not None
        self.pair.failures, self.pair.window_started_at = 0, None
        self.pair.locked_until, self.pair.signed_in_at = None, self.now
        _refresh_expiry(self.pair, self.now)
        # The admin's own lock stays until it ends: a success elsewhere must not reopen it.
        admin.failed_logins = 0

    def _prune(self) -> None:
        """Delete a batch of expired rows that no other sign-in is holding."""
        stale = self.session.scalars(
            select(SignInThrottle.key)
            .where(SignInThrottle.expires_at < self.now)
            .limit(PRUNE_BATCH)
            # Skipping rows another worker holds: waiting for them could deadlock.
            .with_for_update(skip_locked=True)
        ).all()
        if stale:
            self.session.execute(
                delete(SignInThrottle)
                .where(SignInThrottle.key.in_(stale))
                .execution_options(synchronize_session=False)
            )
