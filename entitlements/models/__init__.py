"""Tables, one family per module; import from here."""

from .account import Account
from .audit import AuditEvent
from .ban import Ban
from .base import Base
from .grant import Grant
from .keys import ServiceKey, SigningKey
from .subscription import Subscription

__all__ = [
    "Account",
    "AuditEvent",
    "Ban",
    "Base",
    "Grant",
    "ServiceKey",
    "SigningKey",
    "Subscription",
]
