"""The OpenAPI schemas of the Coral Talk SSO bridge (POST /v1/accounts/{id}/coral-sso-token)."""

from __future__ import annotations

from typing import Any

from ..tokens.coral_reader import (
    EMAIL_MAX,
    EMAIL_PATTERN,
    USERNAME_MAX,
    USERNAME_PATTERN,
    USERNAME_RULES,
)

CORAL_SCHEMAS: dict[str, dict[str, Any]] = {
    "CoralSSORequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["username", "email"],
        "properties": {
            "username": {
                "type": "string",
                "maxLength": USERNAME_MAX,
                "pattern": f"^{USERNAME_PATTERN}$",
                "description": "Shown by Coral beside the reader's comments (`user.username`), "
                f"NFC-normalised: {USERNAME_RULES}. Off the pattern: 400; the rest, which a "
                "pattern cannot state: 422.",
            },
            "email": {
                "type": "string",
                "maxLength": EMAIL_MAX,
                "pattern": f"^{EMAIL_PATTERN}$",
                "description": "Where Coral mails the reader (`user.email`): ASCII, one @, a "
                "dot-atom local part (RFC 5322), a domain of at least two labels (letters, "
                "digits, inner hyphens; 1 to 63 each).",
            },
        },
    },
    "CoralSSOProblem": {
        "allOf": [{"$ref": "#/components/schemas/Problem"}],
        "type": "object",
        "properties": {
            "reason": {
                "type": "string",
                "description": "Present when the account does not hold comment: a sentence "
                'the site may show the reader, "subscribe to comment" or the ban\'s public '
                "message (as in the check API's restrictions). Absent: the key lacks the scope.",
            },
            "feature": {"const": "comment"},
            "subscribe": {
                "type": "boolean",
                "description": "With `reason`: whether commenting also needs a subscription "
                '(true with "subscribe to comment", and with a ban on a reader who would not '
                "comment without it; false: the ban alone stops them).",
            },
            "ends_at": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "With a ban: when commenting resumes; null: never.",
            },
        },
    },
}
