"""The rules every JSON input obeys, from any door: API request bodies and Stripe's events.

Standard library only (no Flask), so billing can hold Stripe's events to them without
importing the HTTP layer.
"""

from __future__ import annotations

import json
from typing import Any

from .text_rules import MAX_TEXT, shown, text_problem

# The body is level 1. Client bodies are flat; Stripe's events nest at most nine levels
# (tests/billing/test_webhook_hostile.py measures the emulator's), so one limit serves both.
MAX_DEPTH = 32


class JSONRuleError(Exception):
    """JSON that breaks a rule; `field` names the field to blame, when there is one."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    body = dict(pairs)
    if len(body) != len(pairs):
        # Parsers disagree on which of two equal keys wins; refuse rather than pick one.
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise JSONRuleError(f"duplicate field: {shown(key)}", field=shown(key))
            seen.add(key)
    return body


def _no_constant(name: str) -> Any:
    raise JSONRuleError(f"{name} is not a JSON number")


# One decoder: building one per request costs more than its object hook.
_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_no_constant)


def parse_json(data: bytes) -> tuple[Any, str]:
    """Decode UTF-8 JSON with no duplicate keys, NaN or Infinity; return the value and text."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JSONRuleError(f"the body is not valid UTF-8 (byte {exc.start})") from exc
    try:
        return _DECODER.decode(text), text
    except RecursionError as exc:
        raise JSONRuleError(f"the body is nested deeper than {MAX_DEPTH} levels") from exc
    except ValueError as exc:
        raise JSONRuleError("the body is not valid JSON (send one JSON object)") from exc


def rules_at_risk(text: str, *, limit: int = MAX_TEXT) -> tuple[bool, bool]:
    """Say whether decoded `text` could break the depth rule, and the text rules.

    NUL and lone surrogates reach valid UTF-8 JSON only as \\u escapes, a string longer than
    `limit` only in a longer body, deep nesting only with many brackets: small flat bodies (the
    token endpoint's) need no walk at all.
    """
    depth = text.count("{") + text.count("[") > MAX_DEPTH
    return depth, "\\u" in text or len(text) > limit


def check_names(body: dict[str, Any], *, limit: int = MAX_TEXT) -> None:
    """Raise JSONRuleError for the first top-level field name breaking the text rules."""
    for key in body:
        if (problem := text_problem(key, limit=limit)) is not None:
            raise JSONRuleError(f"a field name {problem}", field=shown(key))


def check_values(
    body: dict[str, Any], *, depth: bool = True, text: bool = True, limit: int = MAX_TEXT
) -> None:
    """Raise JSONRuleError for nesting deeper than MAX_DEPTH or a string breaking the text rules.

    Field names below the top level are checked too; the top level's are check_names()'s.
    """
    # (where, value, how deep it would nest: the body itself is level 1)
    stack: list[tuple[str, Any, int]] = [(shown(k), v, 2) for k, v in body.items()]
    while stack:
        path, value, level = stack.pop()
        if isinstance(value, str):
            if text and (problem := text_problem(value, limit=limit)) is not None:
                raise JSONRuleError(f"{path} {problem}", field=path)
        elif isinstance(value, dict | list):
            if depth and level > MAX_DEPTH:
                raise JSONRuleError(f"the body is nested deeper than {MAX_DEPTH} levels")
            if isinstance(value, list):
                stack.extend((f"{path}.{n}", item, level + 1) for n, item in enumerate(value))
                continue
            for name, item in value.items():
                if text and (problem := text_problem(name, limit=limit)) is not None:
                    raise JSONRuleError(f"a field name in {path} {problem}", field=path)
                stack.append((f"{path}.{shown(name)}", item, level + 1))
