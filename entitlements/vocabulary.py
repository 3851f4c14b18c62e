"""Fixed names the services check and the command line offers, importable without a database."""

from __future__ import annotations

# How a grant came about: grandfathered past commenters, or complimentary access.
GRANT_KINDS = ("grandfather", "comp")
# What a service key may do.
SCOPES = ("entitlements:read", "tokens:issue", "admin")
# The change events a webhook endpoint may subscribe to: an account's entitlements changed
# (or a change such as a cancellation at period end was scheduled), or a change is near.
EVENT_CHANGED = "entitlements.changed"
EVENT_SCHEDULED = "entitlements.scheduled"
EVENT_TYPES = (EVENT_CHANGED, EVENT_SCHEDULED)
