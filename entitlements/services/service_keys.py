"""Service keys: bearer keys for site services, stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import ConflictError, InvalidError, NotFoundError
from ..models import ServiceKey
from ..vocabulary import SCOPES
from .audit import Actor, record

KEY_PREFIX = "ent_sk_"
NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class Caller:
    """An authenticated service key: its name and scopes."""

    name: str
    scopes: frozenset[str]


def hash_key(key: str) -> str:
    """Return the stored form of a key: keys are 256 random bits, so a plain SHA-256 suffices."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_service_key(
    session: Session, *, name: str, scopes: list[str], actor: Actor, now: datetime
) -> tuple[ServiceKey, str]:
    """Create a key; return its row and the plaintext key, which is never stored."""
    if not NAME.fullmatch(name):
        raise InvalidError(
            "name must be 1-64 characters of a-z, 0-9, _ . - starting with a letter or digit"
        )
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise InvalidError(f"scopes must be among {', '.join(SCOPES)} (got {unknown or 'none'})")
    if session.scalar(select(ServiceKey.id).where(ServiceKey.name == name)) is not None:
        raise ConflictError(f"a service key named {name!r} exists; pick another name")
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ServiceKey(
        name=name,
        key_hash=hash_key(plaintext),
        prefix=plaintext[: len(KEY_PREFIX) + 4],
        scopes=" ".join(sorted(set(scopes))),
        created_at=now,
    )
    session.add(row)
    record(
        session,
        actor,
        action="service_key.create",
        subject_type="service_key",
        subject_id=name,
        account_id=None,
        now=now,
        after={"name": name, "scopes": row.scopes, "prefix": row.prefix},
    )
    return row, plaintext


def revoke_service_key(session: Session, name: str, *, actor: Actor, now: datetime) -> ServiceKey:
    """Revoke a key by name; it fails at once on every request after the commit."""
    row = session.scalar(select(ServiceKey).where(ServiceKey.name == name).with_for_update())
    if row is None:
        raise NotFoundError(f"no service key named {name!r} (see `entitlements service-keys list`)")
    if row.revoked_at is not None:
        raise ConflictError(f"service key {name!r} is already revoked")
    row.revoked_at = now
    record(
        session,
        actor,
        action="service_key.revoke",
        subject_type="service_key",
        subject_id=name,
        account_id=None,
        now=now,
        before={"revoked_at": None},
        after={"revoked_at": now.isoformat()},
    )
    return row


def lookup_hash(key: str) -> str | None:
    """Return the hash to look a presented key up by, or None if it cannot be one of ours."""
    if not key.startswith(KEY_PREFIX) or len(key) > 128:
        return None
    return hash_key(key)


def authenticate(session: Session, key: str) -> Caller | None:
    """Return the caller a bearer key belongs to, or None for an unknown or revoked key."""
    key_hash = lookup_hash(key)
    if key_hash is None:
        return None
    row = session.execute(
        select(ServiceKey.name, ServiceKey.scopes).where(
            ServiceKey.key_hash == key_hash, ServiceKey.revoked_at.is_(None)
        )
    ).first()
    if row is None:
        return None
    return Caller(row.name, frozenset(row.scopes.split()))
