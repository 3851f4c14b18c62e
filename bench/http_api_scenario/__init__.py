"""The parts of bench/http_api.py: settings, baseline app, seeding, targets, load, report."""
