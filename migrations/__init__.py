"""Alembic migrations; shipped inside the package as `entitlements.migrations`."""
