"""An account: the site's own account id, never a reader's password."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime


class Account(Base):
    """A reader known to the service through a subscription, grant or ban."""

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # Bumped whenever access is withdrawn, so cached answers and tokens can be told stale.
    token_version: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # Unix seconds: tokens issued (`iat`) before it are refused by the SDKs (ban, refund,
    # dispute). Indexed for GET /v1/revocations?since=.
    not_before: Mapped[int | None] = mapped_column(BigInteger, index=True)
