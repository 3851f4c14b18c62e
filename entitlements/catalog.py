"""The plans catalog: which features each plan grants and which Stripe prices belong to it."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

FEATURES: tuple[str, ...] = ("comment", "ad_free", "digital_edition", "archive")
# What the pages call each feature.
FEATURE_NAMES = {
    "comment": "Comment on articles",
    "ad_free": "Read without ads",
    "digital_edition": "Read the digital edition",
    "archive": "Open the full archive",
}


class CatalogError(ValueError):
    """Raised when a catalog file is malformed; the message names the fault."""


@dataclass(frozen=True)
class Plan:
    """A sellable plan: its id, display name, features and Stripe price lookup keys."""

    id: str
    name: str
    features: frozenset[str]
    lookup_keys: tuple[str, ...]


@dataclass(frozen=True)
class Catalog:
    """All plans, indexed by Stripe price lookup key."""

    features: tuple[str, ...]
    plans: tuple[Plan, ...]

    def plan_for_lookup_key(self, lookup_key: str | None) -> Plan | None:
        """Return the plan a Stripe price belongs to, or None for a price outside the catalog."""
        if lookup_key is None:
            return None
        for plan in self.plans:
            if lookup_key in plan.lookup_keys:
                return plan
        return None

    @property
    def lookup_keys(self) -> tuple[str, ...]:
        """Return every price lookup key the catalog sells."""
        return tuple(key for plan in self.plans for key in plan.lookup_keys)


# The keys a catalog may hold: a misspelt one would silently sell nothing.
CATALOG_KEYS = ("features", "plans")
PLAN_KEYS = ("name", "features", "lookup_keys")


def _table(value: Any, where: str, keys: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Return `value` if it is a TOML table (of only `keys`), else name what is wrong."""
    if not isinstance(value, dict):
        raise CatalogError(f"{where} must be a table")
    unknown = sorted(set(value) - set(keys)) if keys is not None else []
    if unknown:
        raise CatalogError(f"{where} has unknown key(s) {unknown}; known: {list(keys or ())}")
    return value


def _strings(value: Any, where: str) -> tuple[str, ...]:
    """Return `value` if it is a list of strings, else name what is wrong."""
    # A bare string is iterable too: "plus_monthly" would become twelve one-letter keys.
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise CatalogError(f"{where} must be a list of strings")
    return tuple(value)


def parse_catalog(text: str) -> Catalog:
    """Parse and validate a catalog TOML document."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"catalog is not valid TOML: {exc}") from exc
    _table(data, "the catalog", CATALOG_KEYS)
    features = _strings(data.get("features", list(FEATURES)), "features")
    unknown = set(features) - set(FEATURES)
    if unknown:
        raise CatalogError(f"unknown feature(s) {sorted(unknown)}; known: {list(FEATURES)}")
    plans = []
    seen_keys: set[str] = set()
    for plan_id, value in sorted(_table(data.get("plans", {}), "plans").items()):
        body = _table(value, f"plan {plan_id!r}", PLAN_KEYS)
        plan_features = frozenset(_strings(body.get("features", []), f"plan {plan_id!r} features"))
        if not plan_features <= set(features):
            raise CatalogError(f"plan {plan_id!r} names features outside {list(features)}")
        keys = _strings(body.get("lookup_keys", []), f"plan {plan_id!r} lookup_keys")
        if seen_keys & set(keys):
            raise CatalogError(f"plan {plan_id!r} reuses a lookup key of another plan")
        seen_keys |= set(keys)
        name = body.get("name", plan_id)
        if not isinstance(name, str):
            raise CatalogError(f"plan {plan_id!r} name must be a string")
        plans.append(Plan(plan_id, name, plan_features, keys))
    return Catalog(features=features, plans=tuple(plans))


def load_catalog(path: str | None) -> Catalog:
    """Load the catalog from `path`, or the built-in one when path is None."""
    if path is None:
        text = resources.files("entitlements").joinpath("catalog.toml").read_text("utf-8")
    else:
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise CatalogError(f"cannot read catalog {path}: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise CatalogError(f"catalog {path} is not UTF-8 text") from exc
    return parse_catalog(text)
