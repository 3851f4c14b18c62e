"""`--profile` of bench/webhooks.py: where a delivery's time goes, stage by stage, in-process."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask

from webhooks_scenario.emulator import Event, StripeSide
from webhooks_scenario.senders import stripe_signature
from webhooks_scenario.settings import WEBHOOK_PATH, WEBHOOK_SECRET


@dataclass
class Stage:
    """Inclusive wall and CPU time of one instrumented function, summed over calls."""

    label: str
    wall: float = 0.0
    cpu: float = 0.0
    calls: int = 0


class StageTimers:
    """Wrap functions of the app's stack with wall/thread-CPU timers, in this process only.

    Unlike cProfile this adds about a microsecond per wrapped call, so the stages keep their
    real proportions (cProfile inflates call-dense code such as the SDK and SQLAlchemy).
    """

    def __init__(self) -> None:
        self.stages: dict[str, Stage] = {}
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: Any, name: str, label: str) -> None:
        """Time every call of `owner.name` under `label` (nested stages are inclusive)."""
        original = getattr(owner, name)
        stage = self.stages.setdefault(label, Stage(label))

        def timed(*args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                stage.wall += time.perf_counter() - wall
                stage.cpu += time.thread_time() - cpu
                stage.calls += 1

        setattr(owner, name, timed)
        self._undo.append(lambda: setattr(owner, name, original))

    def reset(self) -> None:
        """Forget the times recorded so far."""
        for stage in self.stages.values():
            stage.wall = stage.cpu = 0.0
            stage.calls = 0

    def restore(self) -> None:
        """Put every wrapped function back."""
        while self._undo:
            self._undo.pop()()


def instrument(app: Flask) -> StageTimers:
    """Wrap the stages of a webhook delivery: the view, the re-fetches, the SQL."""
    import psycopg
    import requests
    from sqlalchemy.orm import Session

    from entitlements.billing import stripe_gateway, sync
    from entitlements.billing import webhooks as billing_webhooks

    timers = StageTimers()
    for owner, name, label in (
        (app, "wsgi_app", "whole request (Flask wsgi_app)"),
        (billing_webhooks, "process", "billing.webhooks.process()"),
        (stripe_gateway.StripeGateway, "_call", "Stripe re-fetches (StripeGateway._call)"),
        (requests.Session, "request", "  HTTP round trips incl. the emulator"),
        (stripe_gateway, "_plain", "  StripeObject.to_dict()"),
        (billing_webhooks, "_insert_event", "INSERT .. ON CONFLICT stripe_events"),
        (sync, "account_for_customer", "account_for_customer() (may re-fetch)"),
        (sync, "lock_account", "lock_account() (upsert + FOR UPDATE)"),
        (sync, "apply_subscription", "apply_subscription() (+ audit)"),
        (Session, "commit", "Session.commit() (flush + COMMIT)"),
        (psycopg.Cursor, "execute", "psycopg Cursor.execute (SQL round trips)"),
        (psycopg.Connection, "commit", "psycopg Connection.commit (COMMIT)"),
        (psycopg.Connection, "rollback", "psycopg Connection.rollback (ROLLBACK)"),
    ):
        timers.wrap(owner, name, label)
    return timers


def profile_handler(env: dict[str, str], events: list[Event], side: StripeSide) -> None:
    """Push `events` through the app in this process, one at a time, first deliveries then
    duplicates, and print the wall and CPU time of each stage per event."""
    from entitlements.app import create_app

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        app = create_app()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    client = app.test_client()

    def deliver(event: Event) -> None:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": stripe_signature(event.body, WEBHOOK_SECRET, int(time.time())),
        }
        answer = client.post(WEBHOOK_PATH, data=event.body, headers=headers)
        if answer.status_code != 200:
            raise RuntimeError(f"profiled event {event.id}: {answer.status_code} {answer.data!r}")

    deliver(events[0])  # connection pool, first-use imports
    events = events[1:]
    timers = instrument(app)
    try:
        for label in ("first deliveries", "duplicates"):
            timers.reset()
            side.timer.take()
            side.timer.recording = True
            wall, cpu = time.perf_counter(), time.thread_time()
            for event in events:
                deliver(event)
            wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
            side.timer.recording = False
            served = side.timer.take()
            count = len(events)
            print(
                f"== profile, {label}: {count} events one at a time through the app in this "
                f"process: {1000 * wall / count:.2f} ms wall, {1000 * cpu / count:.2f} ms CPU "
                f"per event; the emulator served {len(served) / count:.2f} re-fetches per "
                f"event in {1000 * sum(served) / count:.2f} ms"
            )
            print(f"  {'stage (inclusive)':<46}{'wall ms':>9}{'CPU ms':>8}{'calls':>7}  per event")
            for stage in timers.stages.values():
                if stage.calls:
                    print(
                        f"  {stage.label:<46}{1000 * stage.wall / count:>9.2f}"
                        f"{1000 * stage.cpu / count:>8.2f}{stage.calls / count:>7.2f}"
                    )
    finally:
        timers.restore()
