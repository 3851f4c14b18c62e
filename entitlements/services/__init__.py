"""Domain services: each takes a session, raises domain errors and never commits."""
