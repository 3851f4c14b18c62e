"""Tables, one family per module; import from here."""

from .account import Account
from .admin import Admin, AdminUpload, SignInThrottle
from .audit import AuditEvent
from .ban import Ban
from .base import Base
from .checkout import CheckoutAttempt, UsedHandoff
from .grant import Grant
from .keys import ServiceKey, SigningKey
from .stripe_event import StripeEvent
from .subscription import Subscription
from .webhook import ChangeEvent, EventDelivery, WebhookEndpoint

__all__ = [
    "Account",
    "Admin",
    "AdminUpload",
    "AuditEvent",
    "Ban",
    "Base",
    "ChangeEvent",
    "CheckoutAttempt",
    "EventDelivery",
    "Grant",
    "ServiceKey",
    "SignInThrottle",
    "SigningKey",
    "StripeEvent",
    "Subscription",
    "UsedHandoff",
    "WebhookEndpoint",
]
