"""Offline Stripe emulator: a Flask app the real `stripe` SDK talks to over HTTP.

Never for production: `create_emulator` refuses to run when ENTITLEMENTS_ENV=production.
"""

from entitlements.devstripe.app import create_emulator
from entitlements.devstripe.server import EmulatorServer
from entitlements.devstripe.state import EmulatorState

__all__ = ["EmulatorServer", "EmulatorState", "create_emulator"]
