"""The parts of bench/webhooks.py: settings, the emulator, senders, rounds, checks, report."""
