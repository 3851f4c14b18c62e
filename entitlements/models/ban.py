"""A ban: one feature withheld from one account, permanently or until a date."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, UTCDateTime

MAX_REASON = 2000
MAX_PUBLIC_MESSAGE = 500


class Ban(Base):
    """A ban or timed suspension of one feature (`comment` for now)."""

    __tablename__ = "bans"
    __table_args__ = (Index(None, "account_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), nullable=False)
    feature: Mapped[str] = mapped_column(String(32), nullable=False)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The admins' note: shown in the console, the admin API and the audit, never to the reader.
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    # What the reader and the check API see; None: a neutral sentence with the end date.
    public_message: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lifted_by: Mapped[str | None] = mapped_column(String(255))
    lift_reason: Mapped[str | None] = mapped_column(Text)
