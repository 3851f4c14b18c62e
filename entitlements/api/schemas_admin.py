"""JSON schemas of the admin API and the policy endpoint, merged into the OpenAPI document."""

from __future__ import annotations

from typing import Any

from ..catalog import FEATURES
from ..models.ban import MAX_PUBLIC_MESSAGE
from ..services.grants import MAX_REASON
from ..vocabulary import GRANT_KINDS

_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
# No NUL (text_rules), and not only ASCII white space (services.grants.check_reason).
_REASON = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_REASON,
    "pattern": "^[^\\x00]*[^\\x00 \\t\\n\\r\\f\\v][^\\x00]*$",
}
_ACCOUNT_ID = {"type": "string", "pattern": "^[A-Za-z0-9_.:@-]{1,64}$"}
_NULLABLE_STRING = {"type": ["string", "null"]}


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(properties) if required is None else required,
        "properties": properties,
    }


def _list(key: str, item: str, *, paged: bool = False) -> dict[str, Any]:
    properties: dict[str, Any] = {
        key: {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}}
    }
    if paged:
        properties["next_cursor"] = {
            "type": ["string", "null"],
            "description": "Pass as `cursor` for the next page; null on the last page.",
        }
    return _object(properties)


_GRANT = _object({
    "id": {"type": "integer"},
    "account_id": {"type": "string"},
    "feature": {"enum": list(FEATURES)},
    "kind": {"enum": list(GRANT_KINDS)},
    "starts_at": _TIME,
    "ends_at": {**_NULLABLE_TIME, "description": "The grant's own end; null: none of its own."},
    "ends_by_policy": {
        "type": "boolean",
        "description": "The end is ENTITLEMENTS_GRANDFATHER_UNTIL, read at every check.",
    },
    "effective_ends_at": {
        **_NULLABLE_TIME,
        "description": "When the grant stops entitling (policy and revocation applied).",
    },
    "active": {"type": "boolean", "description": "Entitles now (before any ban)."},
    "reason": {"type": "string"},
    "actor": {"type": "string"},
    "created_at": _TIME,
    "revoked_at": _NULLABLE_TIME,
    "revoked_by": _NULLABLE_STRING,
    "revoke_reason": _NULLABLE_STRING,
})

_BAN = _object({
    "id": {"type": "integer"},
    "account_id": {"type": "string"},
    "feature": {"const": "comment"},
    "starts_at": _TIME,
    "ends_at": {**_NULLABLE_TIME, "description": "null: permanent."},
    "active": {"type": "boolean", "description": "Withholds the feature now."},
    "reason": {"type": "string", "description": "The admins' note; never shown to the reader."},
    "public_message": {
        "type": "string",
        "description": "What the reader and the check API are told: the message given, or a "
        "neutral sentence with the end date.",
    },
    "actor": {"type": "string"},
    "created_at": _TIME,
    "lifted_at": _NULLABLE_TIME,
    "lifted_by": _NULLABLE_STRING,
    "lift_reason": _NULLABLE_STRING,
})

_SOURCE = _object({
    "kind": {"type": "string", "description": "subscription, comp or grandfather"},
    "ref": {"type": "string", "description": "subscription id, or grant:<id>"},
    "starts_at": _NULLABLE_TIME,
    "ends_at": _NULLABLE_TIME,
    "active": {"type": "boolean"},
    "state": {"enum": ["active", "scheduled", "ended", "revoked", "not_entitling"]},
    "detail": {"type": "string"},
    "ends_by_policy": {"type": "boolean"},
})

_RESTRICTION = _object({
    "ref": {"type": "string", "description": "ban:<id>"},
    "reason": {"type": "string", "description": "The admins' note."},
    "public_message": {"type": "string", "description": "What the reader is told."},
    "starts_at": _TIME,
    "ends_at": _NULLABLE_TIME,
    "active": {"type": "boolean"},
    "state": {"enum": ["active", "scheduled", "ended", "lifted"]},
})

_AUDIT_EVENT = _object({
    "id": {"type": "integer"},
    "at": _TIME,
    "actor": {"type": "string"},
    "action": {"type": "string"},
    "subject_type": {"type": "string"},
    "subject_id": {"type": "string"},
    "account_id": _NULLABLE_STRING,
    "before": {"type": ["object", "null"]},
    "after": {"type": ["object", "null"]},
    "reason": _NULLABLE_STRING,
    "request_id": _NULLABLE_STRING,
})

_COUNT = {"type": "integer", "minimum": 0}

ADMIN_SCHEMAS: dict[str, dict[str, Any]] = {
    "GrantCreate": _object(
        {
            "account_id": _ACCOUNT_ID,
            "feature": {"enum": list(FEATURES)},
            "kind": {"enum": [*GRANT_KINDS, None], "default": "comp"},
            "ends_at": {
                **_NULLABLE_TIME,
                "description": "Omitted: a grandfather grant follows the policy end, a comp "
                "grant has none. null: no end.",
            },
            "reason": _REASON,
        },
        required=["account_id", "feature", "reason"],
    )
    | {
        # A grandfather grant is of comment only (services.grants.add_grant).
        "if": {"properties": {"kind": {"const": "grandfather"}}, "required": ["kind"]},
        "then": {"properties": {"feature": {"const": "comment"}}},
    },
    "BanCreate": _object(
        {
            "account_id": _ACCOUNT_ID,
            "feature": {"const": "comment"},
            "ends_at": {**_NULLABLE_TIME, "description": "Omitted or null: permanent."},
            "reason": {**_REASON, "description": "The admins' note; never shown to the reader."},
            "public_message": {
                "type": ["string", "null"],
                "maxLength": MAX_PUBLIC_MESSAGE,
                "pattern": "^[^\\x00]*$",
                "description": "Shown to the reader and returned by the check API. Omitted, "
                "null or blank: a neutral sentence with the end date.",
            },
        },
        required=["account_id", "feature", "reason"],
    ),
    "EndChange": _object(
        {
            "ends_at": {**_NULLABLE_TIME, "description": "The new end; null: no end."},
            "reason": _REASON,
        }
    ),
    "ReasonRequest": _object({"reason": _REASON}),
    "Grant": _GRANT,
    "GrantList": _list("grants", "Grant"),
    "Ban": _BAN,
    "BanList": _list("bans", "Ban"),
    "CsvFile": {
        "type": "string",
        "pattern": "^[^\\x00]*$",
        "description": "UTF-8 CSV with the header account_id,last_commented_at (ISO 8601).",
    },
    "GrandfatherImport": _object({
        "dry_run": {"type": "boolean"},
        "file_sha256": {"type": "string"},
        "cutoff": _TIME,
        "rows": _COUNT,
        "new": {**_COUNT, "description": "Grants created (commit) or that would be (dry run)."},
        "already_grandfathered": _COUNT,
        "after_cutoff": {**_COUNT, "description": "Commented after the cutoff: skipped."},
        "invalid": _COUNT,
        "invalid_rows": {
            "type": "array",
            "description": "The first 1000 invalid rows.",
            "items": _object({"line": {"type": "integer"}, "reason": {"type": "string"}}),
        },
        "grants_created": _COUNT,
        "accounts_created": _COUNT,
        "audit_event_id": {"type": ["integer", "null"]},
        "warnings": {
            "type": "array",
            "description": "Plain-language warnings, e.g. the grandfather period has already "
            "ended, so the imported rows grant nothing until it is moved.",
            "items": {"type": "string"},
        },
    }),
    "AccountSummary": _object({
        "id": {"type": "string"},
        "stripe_customer_id": _NULLABLE_STRING,
        "created_at": _TIME,
        "token_version": {"type": "integer"},
    }),
    "AccountList": _list("accounts", "AccountSummary", paged=True),
    "Explanation": _object({
        "account_id": {"type": "string"},
        "now": _TIME,
        "created_at": _TIME,
        "stripe_customer_id": _NULLABLE_STRING,
        "token_version": {"type": "integer"},
        "answer": {"$ref": "#/components/schemas/Entitlements"},
        "features": {
            "type": "array",
            "description": "Every feature of the catalog, held or not.",
            "items": _object({
                "feature": {"type": "string"},
                "held": {"type": "boolean"},
                "sources": {"type": "array", "items": _SOURCE},
                "restrictions": {"type": "array", "items": _RESTRICTION},
            }),
        },
        "subscriptions": {
            "type": "array",
            "items": _object({
                "id": {"type": "string"},
                "status": {"type": "string"},
                "plan": _NULLABLE_STRING,
                "current_period_start": _NULLABLE_TIME,
                "current_period_end": _NULLABLE_TIME,
                "cancel_at_period_end": {"type": "boolean"},
                "entitles_until": _NULLABLE_TIME,
                "entitles": {"type": "boolean"},
            }),
        },
        "timeline": {
            "type": "array",
            "description": "Oldest first: starts and ends of facts, and audit records.",
            "items": _object({
                "at": _TIME,
                "kind": {"enum": ["subscription", "grant", "ban", "audit"]},
                "event": {"type": "string"},
                "ref": {"type": "string"},
                "summary": {"type": "string"},
                "actor": _NULLABLE_STRING,
                "reason": _NULLABLE_STRING,
                "future": {"type": "boolean"},
            }),
        },
    }),
    "AuditEvent": _AUDIT_EVENT,
    "AuditPage": _list("events", "AuditEvent", paged=True),
    "Policy": _object({
        "comment_edit_window_seconds": {"type": "integer", "minimum": 0},
        "grandfather_cutoff": _TIME,
        "grandfather_until": _TIME,
    }),
}
