"""Fixed names the services check and the command line offers, importable without a database."""

from __future__ import annotations

# How a grant came about: grandfathered past commenters, or complimentary access.
GRANT_KINDS = ("grandfather", "comp")
# What a service key may do.
SCOPES = ("entitlements:read", "tokens:issue", "admin")
