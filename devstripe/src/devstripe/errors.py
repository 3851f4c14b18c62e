"""Stripe-shaped API errors raised by the emulator and turned into HTTP responses."""

from __future__ import annotations

from typing import Any


class StripeError(Exception):
    """An error that is rendered as Stripe's `{"error": {...}}` body with an HTTP status."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.code = code
        self.param = param
        self.decline_code = decline_code

    def body(self) -> dict[str, Any]:
        """Return the JSON body Stripe would send for this error."""
        err: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            err["code"] = self.code
            err["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            err["param"] = self.param
        if self.decline_code:
            err["decline_code"] = self.decline_code
        return {"error": err}


def missing(param: str) -> StripeError:
    """Error for a required parameter that was not sent."""
    return StripeError(f"Missing required param: {param}.", code="parameter_missing", param=param)


def invalid(param: str, message: str) -> StripeError:
    """Error for a parameter whose value is not acceptable."""
    return StripeError(message, code="parameter_invalid", param=param)


def no_such(label: str, obj_id: str, param: str = "id") -> StripeError:
    """404 error for an id that does not exist, worded like Stripe's."""
    return StripeError(
        f"No such {label}: '{obj_id}'", status=404, code="resource_missing", param=param
    )


def card_error(message: str, code: str, decline_code: str | None = None) -> StripeError:
    """402 error for a card that could not be charged or attached."""
    return StripeError(message, status=402, type="card_error", code=code, decline_code=decline_code)
