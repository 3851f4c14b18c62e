"""Admin console accounts (argon2 password hashes) and CSV uploads awaiting import."""

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
    # Consecutive failed sign-ins; kept in the database so every process sees the lockout.
    failed_logins: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Session cookies are signed, not stored: bumping this makes every earlier one invalid.
    session_generation: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class AdminUpload(Base):
    """A CSV an admin previewed, kept byte for byte so the import commits exactly that file."""

    __tablename__ = "admin_uploads"

    admin_id: Mapped[int] = mapped_column(ForeignKey("admins.id"), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
