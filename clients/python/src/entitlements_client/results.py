"""Typed, immutable answers: token entitlements, check answers, tokens, hand-offs, policy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class Entitlements:
    """What a verified token says an account may do, until `expires_at`."""

    account_id: str
    features: frozenset[str]
    plan: str | None
    expires_at: datetime
    issued_at: datetime

    def has(self, feature: str) -> bool:
        """Return whether the token grants `feature`."""
        return feature in self.features


@dataclass(frozen=True)
class Source:
    """Why a feature is granted (subscription, grant, grandfather) and until when."""

    feature: str
    source: str
    ends_at: datetime | None


@dataclass(frozen=True)
class Restriction:
    """A feature withheld (a ban), the public message and until when."""

    feature: str
    message: str | None
    ends_at: datetime | None


@dataclass(frozen=True)
class Access:
    """The check API's answer for one account; it holds until `valid_until` (None: no end)."""

    account_id: str
    features: frozenset[str]
    plan: str | None
    sources: tuple[Source, ...]
    restrictions: tuple[Restriction, ...]
    valid_until: datetime | None

    def has(self, feature: str) -> bool:
        """Return whether the account holds `feature`."""
        return feature in self.features


@dataclass(frozen=True)
class IssuedToken:
    """A signed token for one account and audience."""

    token: str
    expires_at: datetime


@dataclass(frozen=True)
class Handoff:
    """A one-time URL signing a reader in to the subscriber pages."""

    url: str
    expires_at: datetime


@dataclass(frozen=True)
class Policy:
    """The comment rules the service publishes at GET /v1/policy."""

    comment_edit_window: timedelta
    grandfather_cutoff: datetime | None
    grandfather_until: datetime | None


def parse_time(value: Any) -> datetime | None:
    """Parse an RFC 3339 timestamp of the API (None stays None) into an aware UTC datetime."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without an offset: {value!r}")
    return parsed.astimezone(UTC)


def required_time(value: Any) -> datetime:
    """Parse a timestamp that may not be null."""
    parsed = parse_time(value)
    if parsed is None:
        raise ValueError("missing timestamp")
    return parsed


def access_from_json(body: Any) -> Access:
    """Build an Access from the check API's JSON (also carried by change events)."""
    if not isinstance(body, dict):
        raise ValueError("the check answer is not an object")
    features = body["features"]
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise ValueError("features is not a list of strings")
    return Access(
        account_id=str(body["account_id"]),
        features=frozenset(features),
        plan=None if body.get("plan") is None else str(body["plan"]),
        sources=tuple(
            Source(str(s["feature"]), str(s["source"]), parse_time(s.get("ends_at")))
            for s in body.get("sources", [])
        ),
        restrictions=tuple(
            Restriction(
                str(r["feature"]),
                None if r.get("message") is None else str(r["message"]),
                parse_time(r.get("ends_at")),
            )
            for r in body.get("restrictions", [])
        ),
        valid_until=parse_time(body.get("valid_until")),
    )


def policy_from_json(body: Any) -> Policy:
    """Build a Policy from GET /v1/policy's JSON."""
    if not isinstance(body, dict):
        raise ValueError("the policy is not an object")
    seconds = body["comment_edit_window_seconds"]
    if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 0:
        raise ValueError("comment_edit_window_seconds is not a non-negative integer")
    return Policy(
        comment_edit_window=timedelta(seconds=seconds),
        grandfather_cutoff=parse_time(body.get("grandfather_cutoff")),
        grandfather_until=parse_time(body.get("grandfather_until")),
    )
