"""Offline Stripe emulator: a Flask app the real `stripe` SDK talks to over HTTP.

Never for production: `create_emulator` refuses to run when ENTITLEMENTS_ENV=production.
"""

from devstripe.app import create_emulator
from devstripe.server import EmulatorServer
from devstripe.state import EmulatorState

__all__ = ["EmulatorServer", "EmulatorState", "create_emulator"]
