"""Subscriber pages: hand-off sign-in, the Plus offer, Checkout return pages, account."""
