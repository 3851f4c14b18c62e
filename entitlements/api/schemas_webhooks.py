"""The OpenAPI schemas of change events: webhook endpoints, deliveries, replay, revocations."""

from __future__ import annotations

from typing import Any

from ..models.webhook import MAX_URL
from ..services.webhook_urls import URL_PATTERN
from ..text_rules import MAX_TEXT
from ..vocabulary import EVENT_TYPES

_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
_NULLABLE_STRING = {"type": ["string", "null"]}
_ID = {"type": "integer"}
_EVENT_TYPES = {"type": "array", "items": {"enum": list(EVENT_TYPES)}}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(properties),
        "properties": properties,
    }


_ENDPOINT = {
    "id": _ID,
    "url": {"type": "string"},
    "event_types": _EVENT_TYPES,
    "status": {"enum": ["active", "disabled"]},
    "description": _NULLABLE_STRING,
    "created_at": _TIME,
    "created_by": {"type": "string"},
    "disabled_at": _NULLABLE_TIME,
    "previous_secret_expires_at": {
        **_NULLABLE_TIME,
        "description": "Until then the previous secret also signs (after a rotation).",
    },
}
_DELIVERY = {
    "id": _ID,
    "event_id": _ID,
    "endpoint_id": _ID,
    "account_id": {"type": "string"},
    "sequence": _ID,
    "status": {"enum": ["pending", "delivered", "failed"]},
    "attempts": {"type": "integer", "minimum": 0},
    "next_attempt_at": _TIME,
    "last_attempt_at": _NULLABLE_TIME,
    "last_status_code": {"type": ["integer", "null"]},
    "last_error": _NULLABLE_STRING,
    "delivered_at": _NULLABLE_TIME,
    "created_at": _TIME,
}


def _list(key: str, item: str) -> dict[str, Any]:
    return _object({key: {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}}})


WEBHOOK_SCHEMAS: dict[str, dict[str, Any]] = {
    "WebhookEndpointCreate": {
        "type": "object",
        "additionalProperties": False,
        "required": ["url"],
        "properties": {
            "url": {
                "type": "string",
                "maxLength": MAX_URL,
                "pattern": f"^{URL_PATTERN.pattern}$",
                "description": "http(s) URL without credentials or fragment.",
            },
            "event_types": {
                **_EVENT_TYPES,
                "description": "Event types to send; omitted or empty: all.",
            },
            "description": {"type": ["string", "null"], "maxLength": MAX_TEXT,
                            "pattern": "^[^\\x00]*$"},
        },
    },
    "WebhookEndpoint": _object(_ENDPOINT),
    "WebhookEndpointSecret": _object({
        **_ENDPOINT,
        "secret": {
            "type": "string",
            "pattern": "^whsec_[A-Za-z0-9+/=]+$",
            "description": "The Standard Webhooks signing secret, shown this once.",
        },
    }),
    "WebhookEndpointList": _list("endpoints", "WebhookEndpoint"),
    "WebhookDelivery": _object(_DELIVERY),
    "WebhookDeliveryPage": _object({
        "deliveries": {"type": "array", "items": {"$ref": "#/components/schemas/WebhookDelivery"}},
        "next_cursor": {
            "type": ["string", "null"],
            "description": "Pass as `cursor` for the next page; null on the last page.",
        },
    }),
    "WebhookReplay": _object({
        "event_id": _ID,
        "deliveries": {"type": "array", "items": {"$ref": "#/components/schemas/WebhookDelivery"}},
    }),
    "Revocations": _object({
        "revocations": {
            "type": "array",
            "items": _object({
                "account_id": {"type": "string"},
                "not_before": {
                    "type": "integer",
                    "description": "Unix seconds: refuse this account's tokens with an older iat.",
                },
            }),
        },
        "next_cursor": {
            "type": ["string", "null"],
            "description": "Pass as `cursor` (with the same since) for the next page.",
        },
    }),
}
