"""Checkout attempts and subscriber hand-offs: what makes two clicks one session."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime


class CheckoutAttempt(Base):
    """An open Stripe Checkout Session for an account and price, reused until it expires."""

    __tablename__ = "checkout_attempts"
    __table_args__ = (Index(None, "account_id", "lookup_key"),)

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # cs_...
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), nullable=False)
    lookup_key: Mapped[str] = mapped_column(String(64), nullable=False)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class UsedHandoff(Base):
    """A hand-off token already exchanged for a session: each works once."""

    __tablename__ = "used_handoffs"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(64), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
