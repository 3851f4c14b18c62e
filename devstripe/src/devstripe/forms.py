"""Decode Stripe's form encoding (`a[b][0][c]=v`, `expand[]=x`) and coerce values."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from devstripe.errors import StripeError, invalid

Params = dict[str, Any]
_TOKEN = re.compile(r"\[([^\]]*)\]")


def _split_key(key: str) -> list[str]:
    head, _, rest = key.partition("[")
    parts = [head]
    if rest:
        parts.extend(_TOKEN.findall("[" + rest))
    return parts


def _listify(node: Any) -> Any:
    # Dicts whose keys are all indexes came from `a[0]`, `a[1]`: the SDK always
    # sends arrays that way, so turn them back into lists ordered by index.
    if isinstance(node, dict):
        node = {k: _listify(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
        return node
    if isinstance(node, list):
        return [_listify(v) for v in node]
    return node


def parse_pairs(pairs: Iterable[tuple[str, str]]) -> Params:
    """Turn (key, value) pairs from a query string or form body into nested dicts/lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = _split_key(key)
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":
                # `a[]=x` appends; a later `[b]` is not used by Stripe's encodings.
                if isinstance(node, list):
                    node.append(value)
                break
            nxt_is_append = not last and parts[i + 1] == ""
            if last:
                node[part] = value
            else:
                default: Any = [] if nxt_is_append else {}
                child = node.get(part)
                if not isinstance(child, (dict, list)):
                    child = default
                    node[part] = child
                node = child
    result = _listify(root)
    assert isinstance(result, dict)
    return result


def get_str(params: Params, key: str, default: str | None = None) -> str | None:
    """Return a string parameter or default; nested values are rejected."""
    value = params.get(key, default)
    if value is None or isinstance(value, str):
        return value
    raise invalid(key, f"Invalid string: {key}")


def get_int(params: Params, key: str, default: int | None = None) -> int | None:
    """Return an integer parameter (or default), raising Stripe's error if malformed."""
    value = params.get(key)
    if value is None or value == "":
        return default
    try:
        return int(str(value))
    except ValueError:
        raise invalid(key, f"Invalid integer: {value}") from None


def get_bool(params: Params, key: str, default: bool | None = None) -> bool | None:
    """Return a boolean parameter sent as 'true'/'false'."""
    value = params.get(key)
    if value is None or value == "":
        return default
    if str(value).lower() in ("true", "1"):
        return True
    if str(value).lower() in ("false", "0"):
        return False
    raise invalid(key, f"Invalid boolean: {value}")


def get_list(params: Params, key: str) -> list[Any]:
    """Return a list parameter; a single scalar counts as a one-element list."""
    value = params.get(key)
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        raise invalid(key, f"Invalid array: {key}")
    return [value]


def get_dict(params: Params, key: str) -> dict[str, Any]:
    """Return a hash parameter (e.g. `subscription_data`), empty when absent."""
    value = params.get(key)
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid(key, f"Invalid hash: {key}")
    return value


def apply_metadata(
    current: dict[str, str], params: Params, key: str = "metadata"
) -> dict[str, str]:
    """Merge `metadata[k]=v` into current metadata; '' deletes a key, `metadata=` clears all."""
    if key not in params:
        return current
    value = params[key]
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid(key, "Invalid metadata: must be a hash")
    merged = dict(current)
    for k, v in value.items():
        if not isinstance(v, str):
            raise invalid(f"{key}[{k}]", "Metadata values must be strings")
        if v == "":
            merged.pop(k, None)
        else:
            merged[k] = v
    if len(merged) > 50:
        raise StripeError("Metadata can have at most 50 keys.", param=key)
    return merged
