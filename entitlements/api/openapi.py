"""The OpenAPI document, generated from the routes and the `document` marks on their views."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, current_app

from .. import __version__
from ..runtime import runtime
from ..text_rules import MAX_TEXT
from .schemas_admin import ADMIN_SCHEMAS
from .schemas_coral import CORAL_SCHEMAS
from .schemas_webhooks import WEBHOOK_SCHEMAS

bp = Blueprint("openapi", __name__)
F = TypeVar("F", bound=Callable[..., Any])

_RFC3339 = {"type": "string", "format": "date-time"}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
# Every text input obeys text_rules: no NUL (PostgreSQL refuses it), at most MAX_TEXT long.
NO_NUL = "^[^\\x00]*$"
ACCOUNT_ID = {"type": "string", "pattern": "^[A-Za-z0-9_.:@-]{1,64}$"}
# Row ids are positive 64-bit integers (http/params.py: row_id).
ROW_ID = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "account_id": ACCOUNT_ID,
    "grant_id": ROW_ID,
    "ban_id": ROW_ID,
    "endpoint_id": ROW_ID,
    "event_id": ROW_ID,
}
# The webhook's "security": Stripe's HMAC signature header, checked by billing/signature.py.
STRIPE_SIGNATURE = "stripe-signature"
_STRIPE_ID = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": NO_NUL}
_STRIPE_NAMES = {"pattern": NO_NUL}


def text(max_length: int = MAX_TEXT, **extra: Any) -> dict[str, Any]:
    """Return the schema of a text input: no NUL, at most `max_length` characters."""
    return {"type": "string", "maxLength": max_length, "pattern": NO_NUL, **extra}


SCHEMAS: dict[str, dict[str, Any]] = {
    "Problem": {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
        },
    },
    "Entitlements": {
        "type": "object",
        "additionalProperties": False,
        "required": ["account_id", "features", "plan", "sources", "restrictions", "valid_until"],
        "properties": {
            "account_id": {"type": "string"},
            "features": {"type": "array", "items": {"type": "string"}},
            "plan": {"type": ["string", "null"]},
            "sources": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["feature", "source", "ends_at"],
                    "properties": {
                        "feature": {"type": "string"},
                        "source": {"type": "string"},
                        "ends_at": _NULLABLE_TIME,
                    },
                },
            },
            "restrictions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["feature", "message", "ends_at"],
                    "properties": {
                        "feature": {"type": "string"},
                        "message": {
                            "type": "string",
                            "description": "What the reader may be told: the ban's public "
                            "message, or a neutral sentence with its end.",
                        },
                        "ends_at": _NULLABLE_TIME,
                    },
                },
            },
            "valid_until": _NULLABLE_TIME,
        },
    },
    "TokenRequest": {
        "type": "object",
        "additionalProperties": False,
        # build_document() lists the configured audiences in the enum.
        "properties": {
            "audience": {
                "enum": [None],
                "description": "One of ENTITLEMENTS_TOKEN_AUDIENCES; omitted or null: the default.",
            }
        },
    },
    "Token": {
        "type": "object",
        "additionalProperties": False,
        "required": ["token", "expires_at"],
        "properties": {"token": {"type": "string"}, "expires_at": _RFC3339},
    },
    "JWKS": {
        "type": "object",
        "required": ["keys"],
        "properties": {
            "keys": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["kid", "kty", "alg", "use"],
                    "properties": {
                        "kid": {"type": "string"},
                        "kty": {"type": "string"},
                        "alg": {"type": "string"},
                        "use": {"const": "sig"},
                    },
                },
            }
        },
    },
    "HandoffRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "next": {"enum": ["/subscribe", "/account"]},
            "email": {
                "type": ["string", "null"],
                "maxLength": 254,
                "pattern": "^[^\\x00]*@[^\\x00]*$",
                "description": "Shown on the pages as who is signed in; null: none.",
            },
        },
    },
    "Handoff": {
        "type": "object",
        "additionalProperties": False,
        "required": ["url", "expires_at"],
        "properties": {"url": {"type": "string", "format": "uri"}, "expires_at": _RFC3339},
    },
    # Exactly what billing.webhooks.check_event accepts; anything else is recorded and 422.
    "StripeEvent": {
        "type": "object",
        "required": ["id", "object", "type", "created", "data"],
        "properties": {
            "id": _STRIPE_ID,
            "object": {"const": "event"},
            "type": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": NO_NUL},
            "created": {"type": "integer", "minimum": 1, "maximum": 253_402_300_799},
            "livemode": {"type": "boolean"},
            "data": {
                "type": "object",
                "required": ["object"],
                "properties": {
                    "object": {
                        "type": "object",
                        "required": ["id"],
                        "properties": {"id": _STRIPE_ID},
                        "additionalProperties": {"$ref": "#/components/schemas/StripeValue"},
                        "propertyNames": _STRIPE_NAMES,
                    }
                },
                "additionalProperties": {"$ref": "#/components/schemas/StripeValue"},
                "propertyNames": _STRIPE_NAMES,
            },
        },
        "additionalProperties": {"$ref": "#/components/schemas/StripeValue"},
        "propertyNames": _STRIPE_NAMES,
        "description": "At most 64 levels deep.",
    },
    "StripeValue": {
        "type": ["string", "number", "boolean", "null", "array", "object"],
        "pattern": NO_NUL,
        "items": {"$ref": "#/components/schemas/StripeValue"},
        "additionalProperties": {"$ref": "#/components/schemas/StripeValue"},
        "propertyNames": _STRIPE_NAMES,
    },
    "WebhookAck": {
        "type": "object",
        "required": ["received", "event_id", "result"],
        "properties": {
            "received": {"const": True},
            "event_id": {"type": "string"},
            "result": {"type": "string"},
        },
    },
    "Status": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string"}},
    },
    **ADMIN_SCHEMAS,
    **CORAL_SCHEMAS,
    **WEBHOOK_SCHEMAS,
}

_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    400: "Invalid request",
    401: "Missing or unknown service key",
    403: "Service key lacks the scope",
    404: "Not found",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Fits this document but breaks a rule it cannot state (e.g. an end in the past)",
    500: "Unexpected failure; nothing was written",
    503: "Unavailable; retry after the Retry-After header",
}


# gunicorn answers these itself, as HTML, before the app sees the request (server.py).
_BEFORE_THE_APP = {
    str(status): {
        "description": f"{what} (answered by gunicorn as text/html, before the service)",
        "content": {"text/html": {"schema": {"type": "string"}}},
    }
    for status, what in (
        (414, "Request line longer than 4094 bytes"),
        (431, "More than 64 header fields, or one longer than 8190 bytes"),
    )
}


def document(
    summary: str,
    *,
    responses: dict[int, str | None],
    request_body: str | None = None,
    tag: str = "entitlements",
    query: dict[str, dict[str, Any]] | None = None,
    request_media: str = "application/json",
    body_required: bool = False,
    security: str | None = None,
    descriptions: dict[int, str] | None = None,
) -> Callable[[F], F]:
    """Mark a view with its OpenAPI summary, request schema and responses by status.

    `query` maps each query parameter to its JSON schema (a "description" key is lifted out);
    `descriptions` replaces the usual description of a status where the view means more.
    """

    def mark(view: F) -> F:
        view.__dict__.setdefault("openapi", {}).update(
            summary=summary,
            responses=responses,
            request_body=request_body,
            tag=tag,
            query=query or {},
            request_media=request_media,
            body_required=body_required,
            descriptions=descriptions or {},
        )
        if security:
            # Views that authenticate inside (the hot read path) name their scope here.
            view.__dict__["openapi"]["security"] = security
        return view

    return mark


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _operation_id(endpoint: str) -> str:
    """Return `<blueprint>_<view>`, naming a nested blueprint's view by its top blueprint."""
    # admin.grants.create_grant is admin_create_grant: the operation ids stay as they were
    # before the admin API was split into child blueprints, and stay when a view moves.
    top, _, rest = endpoint.partition(".")
    return f"{top}_{rest.rpartition('.')[2]}" if rest else top


def build_document() -> dict[str, Any]:
    """Walk the app's routes and build the OpenAPI 3.1 document from their marks."""
    paths: dict[str, dict[str, Any]] = {}
    for rule in current_app.url_map.iter_rules():
        view = current_app.view_functions.get(rule.endpoint)
        meta = getattr(view, "openapi", None)
        if not meta or "summary" not in meta:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation: dict[str, Any] = {
                "summary": meta["summary"],
                "operationId": _operation_id(rule.endpoint),
                "tags": [meta["tag"]],
                "responses": {},
            }
            params = [
                {
                    "name": arg,
                    "in": "path",
                    "required": True,
                    "schema": PATH_PARAMETERS.get(arg, {"type": "string"}),
                }
                for arg in sorted(rule.arguments)
            ]
            for name, schema in meta.get("query", {}).items():
                spec = dict(schema)
                param = {"name": name, "in": "query", "required": spec.pop("required", False)}
                if "description" in spec:
                    param["description"] = spec.pop("description")
                params.append({**param, "schema": spec})
            if params:
                operation["parameters"] = params
            if meta.get("request_body"):
                media = meta.get("request_media", "application/json")
                operation["requestBody"] = {
                    "required": meta.get("body_required", False),
                    "content": {media: {"schema": _ref(meta["request_body"])}},
                }
            if meta.get("security") == STRIPE_SIGNATURE:
                operation["security"] = [{"stripeSignature": []}]
            elif meta.get("security"):
                operation["security"] = [{"serviceKey": [meta["security"]]}]
            for status, schema in meta["responses"].items():
                default = _STATUS_TEXT.get(status, str(status))
                entry: dict[str, Any] = {
                    "description": meta.get("descriptions", {}).get(status, default)
                }
                # A problem schema (Problem, or one adding members to it) is problem+json.
                if schema is not None and schema.endswith("Problem"):
                    entry["content"] = {"application/problem+json": {"schema": _ref(schema)}}
                elif schema:
                    entry["content"] = {"application/json": {"schema": _ref(schema)}}
                operation["responses"][str(status)] = entry
            operation["responses"].update(_BEFORE_THE_APP)
            paths.setdefault(path, {})[method.lower()] = operation
    schemas = copy.deepcopy(SCHEMAS)
    # The audiences are configuration: the document names exactly the ones this server takes.
    audiences = runtime().config.token_audiences
    schemas["TokenRequest"]["properties"]["audience"]["enum"] = [*audiences, None]
    return {
        "openapi": "3.1.0",
        "info": {"title": "entitlements", "version": __version__},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "serviceKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A service key from `entitlements service-keys create`.",
                },
                "stripeSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Stripe-Signature",
                    "description": "t=<unix time>,v1=<HMAC-SHA256 of t.body with the "
                    "webhook secret>, within 300 s of now.",
                },
            },
        },
    }


@bp.get("/openapi.json")
def openapi_json() -> dict[str, Any]:
    """Serve the OpenAPI document."""
    return build_document()
