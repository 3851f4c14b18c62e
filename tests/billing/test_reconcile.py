"""`entitlements reconcile` and `entitlements events list|replay` against the emulator."""

from __future__ import annotations

import os
import threading
from typing import Any

from click.testing import CliRunner, Result
from sqlalchemy import func, select

from entitlements import db
from entitlements.cli import main
from entitlements.models import AuditEvent, StripeEvent, Subscription
from tests.billing.conftest import STRIPE_KEY, WEBHOOK_SECRET, StripeWorld
from tests.billing.test_lifecycle import ALL, mirror, price_id
from tests.conftest import SECRET


def run(world: StripeWorld, *args: str, stripe_url: str | None = None) -> Result:
    """Run the CLI in-process with the world's database and Stripe (or `stripe_url`)."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("ENTITLEMENTS_")}
    env.update(
        ENTITLEMENTS_DATABASE_URL=world.app.extensions["entitlements"].config.database_url,
        ENTITLEMENTS_SECRET_KEY=SECRET,
        ENTITLEMENTS_ENV="test",
        ENTITLEMENTS_STRIPE_SECRET_KEY=STRIPE_KEY,
        ENTITLEMENTS_STRIPE_API_BASE=stripe_url or world.emulator.url,
        ENTITLEMENTS_STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )
    return CliRunner().invoke(main, list(args), env=env)


def subscribe_unseen(world: StripeWorld, account_id: str) -> str:
    """A subscription whose webhooks are all lost."""
    customer = world.customer_for(account_id)
    sub = world.sdk.v1.subscriptions.create(
        params={
            "customer": customer,
            "items": [{"price": price_id(world, "plus_monthly")}],
        }
    )
    return str(sub.id)


def count(world: StripeWorld, model: Any, *where: Any) -> int:
    with world.app.app_context():
        return int(db.session().scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_reconcile_repairs_lost_webhooks_and_a_second_run_changes_nothing(
    stripe_world: StripeWorld,
) -> None:
    world = stripe_world
    sub_a = subscribe_unseen(world, "lost-a")
    sub_b = subscribe_unseen(world, "lost-b")
    assert world.features("lost-a") == []

    first = run(world, "reconcile")
    assert first.exit_code == 0, first.output + first.stderr
    assert f"repaired {sub_a} (lost-a): now active" in first.stdout
    assert f"repaired {sub_b} (lost-b): now active" in first.stdout
    assert "subscriptions checked" in first.stderr  # progress
    assert world.features("lost-a") == ALL
    assert world.features("lost-b") == ALL
    audits = count(world, AuditEvent)

    second = run(world, "reconcile")
    assert second.exit_code == 0
    assert "repaired sub_" not in second.stdout
    assert ", 0 repaired;" in second.stdout
    assert ", 0 applied" in second.stdout
    assert count(world, AuditEvent) == audits


def test_reconcile_fixes_a_mirror_that_drifted(stripe_world: StripeWorld) -> None:
    world = stripe_world
    sub_id = subscribe_unseen(world, "drift")
    run(world, "reconcile")
    world.sdk.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": True})
    result = run(world, "reconcile")
    assert f"repaired {sub_id}" in result.stdout
    assert mirror(world, sub_id).cancel_at_period_end is True


def test_reconcile_is_safe_beside_live_webhooks(stripe_world: StripeWorld) -> None:
    world = stripe_world
    subs = [subscribe_unseen(world, f"busy-{n}") for n in range(4)]
    deliverer = threading.Thread(target=world.deliver)
    deliverer.start()
    result = run(world, "reconcile")
    deliverer.join(timeout=60)
    world.deliver()
    assert result.exit_code == 0, result.output + result.stderr
    for n, sub_id in enumerate(subs):
        assert mirror(world, sub_id).status == "active"
        assert world.features(f"busy-{n}") == ALL
    with world.app.app_context():
        ids = list(db.session().scalars(select(StripeEvent.id)))
    assert len(ids) == len(set(ids))
    assert count(world, Subscription) == 4


def test_reconcile_without_billing_configured_says_what_to_set(stripe_world: StripeWorld) -> None:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("ENTITLEMENTS_")}
    env.update(
        ENTITLEMENTS_DATABASE_URL=stripe_world.app.extensions["entitlements"].config.database_url,
        ENTITLEMENTS_SECRET_KEY=SECRET,
    )
    result = CliRunner().invoke(main, ["reconcile"], env=env)
    assert result.exit_code == 1
    assert "ENTITLEMENTS_STRIPE_SECRET_KEY" in result.stderr


def test_events_list_failed_and_replay(stripe_world: StripeWorld) -> None:
    world = stripe_world
    stranger = world.sdk.v1.customers.create(
        params={
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    world.sdk.v1.subscriptions.create(
        params={
            "customer": stranger.id,
            "items": [{"price": price_id(world, "plus_monthly")}],
        }
    )
    world.deliver()
    failed = run(world, "events", "list", "--failed")
    assert failed.exit_code == 0
    assert "customer.subscription.created" in failed.stdout
    event_id = next(
        line.split()[0]
        for line in failed.stdout.splitlines()
        if "customer.subscription.created" in line
    )
    still = run(world, "events", "replay", event_id)
    assert still.exit_code == 1
    assert "not linked" in still.stderr

    world.sdk.v1.customers.update(stranger.id, params={"metadata": {"account_id": "adopted"}})
    replayed = run(world, "events", "replay", event_id)
    assert replayed.exit_code == 0, replayed.stderr
    assert "processed" in replayed.stdout
    assert world.features("adopted") == ALL
    again = run(world, "events", "replay", event_id)
    assert again.exit_code == 2
    assert "--force" in again.stderr
    forced = run(world, "events", "replay", event_id, "--force")
    assert forced.exit_code == 0
    listing = run(world, "events", "list")
    assert event_id in listing.stdout
    assert event_id not in run(world, "events", "list", "--failed").stdout
