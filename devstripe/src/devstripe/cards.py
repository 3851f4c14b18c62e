"""Stripe's test card numbers and what each does when attached or charged."""

from __future__ import annotations

from dataclasses import dataclass

# Test PaymentMethod tokens accepted wherever a payment method id is expected.
PM_TOKENS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_amex": "378282246310005",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeCustomerFail": "4000000000000341",
    "pm_card_authenticationRequiredOnSetup": "4000002500003155",
    "pm_card_authenticationRequired": "4000002760003184",
}

# Cards refused as soon as they are used (attach or first charge):
# number -> (decline_code, message).
DECLINED = {
    "4000000000000002": ("generic_decline", "Your card was declined."),
    "4000000000009995": ("insufficient_funds", "Your card has insufficient funds."),
    "4000000000000069": ("expired_card", "Your card has expired."),
    "4000000000000127": ("incorrect_cvc", "Your card's security code is incorrect."),
}
ATTACH_THEN_FAIL = "4000000000000341"
AUTH_ON_SETUP = "4000002500003155"  # needs 3DS for the first (on-session) payment only
AUTH_ALWAYS = "4000002760003184"


@dataclass(frozen=True)
class Outcome:
    """Result of trying to charge a card."""

    status: str  # succeeded | failed | requires_action
    code: str | None = None
    decline_code: str | None = None
    message: str | None = None


def normalize(number: str) -> str:
    """Strip spaces and dashes that people type into card fields."""
    return "".join(ch for ch in number if ch.isdigit())


def luhn_ok(number: str) -> bool:
    """Check the card number's Luhn checksum."""
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def brand(number: str) -> str:
    """Card brand from the leading digits."""
    if number.startswith("4"):
        return "visa"
    if number[:2] in ("34", "37"):
        return "amex"
    if number[:1] == "5" or number[:2] == "22":
        return "mastercard"
    if number.startswith("6"):
        return "discover"
    return "unknown"


def attach_error(number: str) -> tuple[str, str] | None:
    """(decline_code, message) if the card is refused when saved, else None."""
    if not luhn_ok(number):
        return ("incorrect_number", "Your card number is incorrect.")
    return DECLINED.get(number)


def charge(number: str | None, *, on_session: bool, forced_fail: bool) -> Outcome:
    """What happens when this card is charged (off-session for renewals)."""
    fail = Outcome("failed", "card_declined", "generic_decline", "Your card was declined.")
    if number is None:
        return Outcome(
            "failed", "payment_method_missing", None, "The customer has no payment method."
        )
    if forced_fail or number == ATTACH_THEN_FAIL:
        return fail
    if number in DECLINED:
        decline, message = DECLINED[number]
        return Outcome("failed", "card_declined", decline, message)
    if number == AUTH_ALWAYS or (number == AUTH_ON_SETUP and on_session):
        return Outcome(
            "requires_action",
            "authentication_required",
            None,
            "This payment requires authentication.",
        )
    return Outcome("succeeded")
