"""Stripe billing: the gateway, checkout, webhooks, sync and reconciliation."""
