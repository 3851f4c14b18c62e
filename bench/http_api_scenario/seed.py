"""The service as bench/http_api.py sets it up: its database, environment, keys and readers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from support.service import app_environment, cli

DATABASE_PREFIX = "entitlements_bench"
SECRET_KEY = "bench-secret-key-0123456789abcdef-not-for-production"  # noqa: S105
ACCOUNT = "reader-1"
FILLER_ACCOUNTS = 5000


def environment(database_url: str, instance_path: str) -> dict[str, str]:
    """Return the environment of the CLI and of both servers."""
    return app_environment(database_url, instance_path, SECRET_KEY)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def seed(env: dict[str, str], cwd: str, database_url: str) -> str:
    """Create the service key and signing key and seed the accounts; return the key."""
    import psycopg

    scopes = "--scope entitlements:read --scope tokens:issue"
    key = cli(env, cwd, f"service-keys create --name bench {scopes}").splitlines()[-1].strip()
    cli(env, cwd, "signing-keys rotate")
    now = datetime.now(UTC).replace(microsecond=0)
    year, week = _iso(now + timedelta(days=365)), _iso(now + timedelta(days=7))
    cli(env, cwd, f"grants add {ACCOUNT} --feature comment --reason bench")
    cli(env, cwd, f"grants add {ACCOUNT} --feature archive --until {year} --reason", "print sub")
    ban = cli(env, cwd, f"bans add {ACCOUNT} --feature comment --until {week} --reason", "heated")
    ban_id = ban.split()[1].rstrip(":")  # "ban 3: reader-1 may not comment until ..."
    cli(env, cwd, f"bans lift {ban_id} --reason", "appeal granted")
    cli(env, cwd, "bans add troll-1 --feature comment --reason", "abuse")
    day = timedelta(days=1)
    with psycopg.connect(database_url) as conn:
        # The reader is a Plus subscriber: the rows billing sync would have written.
        conn.execute(
            "UPDATE accounts SET stripe_customer_id = 'cus_bench_1' WHERE id = %s", [ACCOUNT]
        )
        conn.execute(
            """INSERT INTO subscriptions (id, account_id, customer_id, status, lookup_keys,
                   price_ids, current_period_start, current_period_end, cancel_at_period_end,
                   livemode, created_at, synced_at)
               VALUES ('sub_bench_1', %s, 'cus_bench_1', 'active', 'plus_monthly',
                   'price_bench_monthly', %s, %s, false, false, %s, %s)""",
            [ACCOUNT, now - 10 * day, now + 20 * day, now - 400 * day, now],
        )
        # Other readers: subscribers (some canceled), a quarter with a grandfathered grant.
        conn.execute(
            """INSERT INTO accounts (id, stripe_customer_id, token_version, created_at)
               SELECT 'filler-' || n, 'cus_filler_' || n, 0, %s
               FROM generate_series(1, %s) AS n""",
            [now - 30 * day, FILLER_ACCOUNTS],
        )
        conn.execute(
            """INSERT INTO subscriptions (id, account_id, customer_id, status, lookup_keys,
                   price_ids, current_period_start, current_period_end, cancel_at_period_end,
                   livemode, created_at, synced_at)
                SELECT 'sub_filler_' || n, 'filler-' || n, 'cus_filler_' || n,
                    CASE WHEN n %% 10 = 0 THEN 'canceled' ELSE 'active' END,
                    CASE WHEN n %% 3 = 0 THEN 'plus_annual' ELSE 'plus_monthly' END,
                    'price_filler', %s, %s, n %% 7 = 0, false, %s, %s
                FROM generate_series(1, %s) AS n""",
            [now - 5 * day, now + 25 * day, now - 30 * day, now, FILLER_ACCOUNTS],
        )
        conn.execute(
            """INSERT INTO grants (account_id, feature, kind, starts_at, ends_by_policy, reason,
                   actor, created_at)
               SELECT 'filler-' || n, 'comment', 'grandfather', %s, false, 'bench', 'bench', %s
               FROM generate_series(1, %s, 4) AS n""",
            [now - 30 * day, now - 30 * day, FILLER_ACCOUNTS],
        )
    with psycopg.connect(database_url, autocommit=True) as conn:
        # Leave autovacuum nothing to do during the windows.
        conn.execute("VACUUM (ANALYZE)")
    return key
