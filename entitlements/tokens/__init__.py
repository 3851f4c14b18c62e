"""Signed entitlement tokens: keys and issuing. The only package that signs."""
