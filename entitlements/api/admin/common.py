"""What the admin API's views share: their OpenAPI tag and responses, the account parameter."""

from __future__ import annotations

from ...errors import InvalidError
from ...http.params import query_args
from ...services.accounts import validate_account_id
from ..openapi import ACCOUNT_ID

TAG = "admin"
# The responses of a write to one grant or ban, besides its 200.
WRITE = {
    400: "Problem",
    401: "Problem",
    403: "Problem",
    404: "Problem",
    409: "Problem",
    422: "Problem",
}
# The responses of a read, besides its 200.
READ = {400: "Problem", 401: "Problem", 403: "Problem"}
# Search queries and audit actors are at most this long.
MAX_QUERY = 255
LIMIT = {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}
NEXT_CURSOR = "next_cursor of the previous page"
ACCOUNT_QUERY = {"account_id": {**ACCOUNT_ID, "required": True, "description": "The account."}}


def account_arg() -> str:
    """Return the required, valid account_id query parameter (the only one allowed)."""
    args = query_args({"account_id"})
    if "account_id" not in args:
        raise InvalidError("the account_id query parameter is required", field="account_id")
    return validate_account_id(args["account_id"])
