"""entitlements: the paywall and subscription entitlement service of a magazine site."""

__version__ = "0.1.0"
