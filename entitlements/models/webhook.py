"""Change events to site services: endpoints, events, one delivery per event and endpoint."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, UTCDateTime

MAX_URL = 2000
_UNSENT = "status IN ('pending', 'sending')"


class WebhookEndpoint(Base):
    """A site service's URL, the event types it wants, and its signing secrets (encrypted)."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(MAX_URL), nullable=False)
    # Space-separated event types.
    event_types: Mapped[str] = mapped_column(String(255), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # active | disabled
    # AES-GCM under a key derived from ENTITLEMENTS_SECRET_KEY; the whsec_ value is shown once.
    secret_encrypted: Mapped[str] = mapped_column(Text, nullable=False)
    # During rotation the previous secret signs too, until previous_expires_at.
    previous_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    previous_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(String(255), nullable=False)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ChangeEvent(Base):
    """One change of an account's entitlements (or a scheduled one), written with the change."""

    __tablename__ = "change_events"
    __table_args__ = (UniqueConstraint("account_id", "sequence"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(String(64), nullable=False)
    # 1, 2, 3... per account, under the account's row lock: the order receivers see.
    sequence: Mapped[int] = mapped_column(Integer, nullable=False)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)


class EventDelivery(Base):
    """One event to one endpoint: the durable outbox row the workers claim."""

    __tablename__ = "event_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id"),
        # The workers' claim, both partial (only rows still to send) so that its plan is good
        # without statistics, as right after a bulk write: walk the due rows in order and stop
        # at the first one whose earlier siblings are all done.
        Index("ix_event_deliveries_due", "next_attempt_at", "id",
              postgresql_where=text(_UNSENT), sqlite_where=text(_UNSENT)),
        Index("ix_event_deliveries_unsent", "endpoint_id", "account_id", "sequence",
              postgresql_where=text(_UNSENT), sqlite_where=text(_UNSENT)),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("change_events.id"),
        nullable=False,
    )
    endpoint_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("webhook_endpoints.id"),
        nullable=False,
    )
    # Copied from the event, so the in-order rule reads one table.
    account_id: Mapped[str] = mapped_column(String(64), nullable=False)
    sequence: Mapped[int] = mapped_column(Integer, nullable=False)
    # pending | sending (claimed by a worker until locked_until) | delivered | failed
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # While sending: the lease's end, which next_attempt_at equals too, so an expired lease
    # (a worker that died) is due again by the claim's own index.
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Attempts stop after this (NULL: created_at + RETRY_FOR); a replay restarts the window.
    retry_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
