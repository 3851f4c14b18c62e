"""The changes under test: comp grants committed through the grant service, as the admin API
commits them (its change event in the same transaction), paced to a rate; run in processes."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from entitlements.access import Policy
from entitlements.catalog import load_catalog
from entitlements.db import make_engine
from entitlements.services.audit import Actor
from entitlements.services.change_events import POLICY_INFO
from entitlements.services.grants import add_grant


@dataclass(frozen=True)
class Commit:
    """One committed change: its account, the event's sequence there, and when it committed."""

    account_id: str
    sequence: int
    at: float  # time.time() right after COMMIT returned


def account_names(prefix: str, count: int) -> list[str]:
    """Return the accounts of one phase: fresh ones, so each event's sequence is known."""
    return [f"{prefix}-{n:05d}" for n in range(count)]


def write_changes(
    database_url: str, accounts: list[str], count: int, rate: float | None, start_at: float
) -> tuple[list[Commit], float]:
    """Commit `count` grants over `accounts` in turn, the i-th at start_at + i/rate (as fast
    as possible without a rate); return the commits and how late the last one started (s)."""
    engine = make_engine(database_url)
    policy = Policy(catalog=load_catalog(None))
    actor = Actor("bench:event-delivery")
    done: list[Commit] = []
    sequences = dict.fromkeys(accounts, 0)
    late = 0.0
    try:
        with Session(engine, info={POLICY_INFO: policy}) as session:
            for i in range(count):
                if rate is not None:
                    due = start_at + i / rate
                    wait = due - time.time()
                    if wait > 0:
                        time.sleep(wait)
                    late = max(late, time.time() - due)
                account_id = accounts[i % len(accounts)]
                now = datetime.now(UTC)
                add_grant(
                    session, account_id, feature="archive", kind="comp", reason="bench",
                    actor=actor, now=now, ends_at=now + timedelta(days=1), policy_end=None,
                )
                session.commit()
                committed = time.time()
                sequences[account_id] += 1
                done.append(Commit(account_id, sequences[account_id], committed))
    finally:
        engine.dispose()
    return done, late
