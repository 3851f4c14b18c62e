"""The parts of bench/event_delivery.py: settings, the change writers, the receiver, the report."""
