"""The database check of bench/webhooks.py: each event applied once, each subscription mirrored."""

from __future__ import annotations

from webhooks_scenario.emulator import Event


def verify_database(database_url: str, events: list[Event], subscriptions: int) -> list[str]:
    """Check every event is recorded once as processed and every subscription mirrored."""
    import psycopg

    ids = [e.id for e in events]
    problems: list[str] = []
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT id, status, attempts FROM stripe_events WHERE id = ANY(%s)", [ids]
        ).fetchall()
        total = conn.execute("SELECT count(*) FROM stripe_events").fetchone()
        mirror = conn.execute(
            """SELECT count(*), count(*) FILTER (WHERE status = 'active'),
                      count(DISTINCT account_id) FROM subscriptions"""
        ).fetchone()
        linked = conn.execute(
            "SELECT count(*) FROM accounts WHERE stripe_customer_id IS NOT NULL"
        ).fetchone()
    assert total is not None
    assert mirror is not None
    assert linked is not None
    found = {row[0]: (row[1], row[2]) for row in rows}
    missing = [i for i in ids if i not in found]
    not_processed = {i: s for i, (s, _) in found.items() if s != "processed"}
    retried = {i: a for i, (_, a) in found.items() if a != 1}
    print(
        f"  stripe_events: {len(found)}/{len(ids)} sent events recorded "
        f"({total[0]} rows in all), {len(found) - len(not_processed)} processed, "
        f"{len(found) - len(retried)} with exactly one attempt"
    )
    print(
        f"  subscriptions mirrored: {mirror[0]} ({mirror[1]} active) of {subscriptions} made,"
        f" {mirror[2]} accounts; {linked[0]} accounts linked to their Stripe customer"
    )
    if missing:
        problems.append(f"{len(missing)} events not recorded, e.g. {missing[:3]}")
    if not_processed:
        sample = list(not_processed.items())[:3]
        problems.append(f"{len(not_processed)} events not processed, e.g. {sample}")
    if retried:
        sample = [(i, f"{a} attempts") for i, a in list(retried.items())[:3]]
        problems.append(f"{len(retried)} events not applied exactly once, e.g. {sample}")
    if total[0] != len(ids):
        problems.append(f"stripe_events holds {total[0]} rows, {len(ids)} events were sent")
    if not mirror[0] == mirror[1] == linked[0] == subscriptions:
        problems.append("the subscription mirror does not match the subscriptions made")
    return problems
