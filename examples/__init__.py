"""Runnable examples built on the SDK (clients/python) and the public API, never on the service."""
