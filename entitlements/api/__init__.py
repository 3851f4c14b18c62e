"""Thin HTTP blueprints: parse, call a service, commit, answer JSON."""
