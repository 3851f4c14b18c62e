"""Admin console accounts (argon2 password hashes), sign-in throttles, CSV uploads to import."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, UTCDateTime


class Admin(Base):
    """A person who may use the admin console; never a reader's account."""

    __tablename__ = "admins"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, nullable=False)
    # An argon2id PHC string; the password itself is never stored or logged.
    password_hash: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Failed sign-ins from every address since the last success or lock, and the lock they set:
    # it refuses only addresses the admin has not signed in from (services/sign_in_throttle.py).
    failed_logins: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Session cookies are signed, not stored: bumping this makes every earlier one invalid.
    session_generation: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class SignInThrottle(Base):
    """Failed console sign-ins from one client address, or for one admin from one address.

    Kept in the database so every worker counts the same failures; a row is deleted once it
    expires, so failures for made-up emails cost one row per address, not one per attempt.
    """

    __tablename__ = "sign_in_throttles"

    # `address:<network>` or `admin:<admin id>:<network>`.
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False)
    window_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Admin rows: the last successful sign-in from this address (a known address).
    signed_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)


class AdminUpload(Base):
    """A CSV an admin previewed, kept byte for byte so the import commits exactly that file."""

    __tablename__ = "admin_uploads"

    admin_id: Mapped[int] = mapped_column(ForeignKey("admins.id"), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
