"""How many examples a property test draws: the Hypothesis profile's count, scaled."""

from __future__ import annotations

from hypothesis import settings


def examples(factor: float = 1.0) -> int:
    """Return the loaded profile's max_examples times `factor` (cheap tests afford more)."""
    # settings() inherits from the profile tests/conftest.py loads before any test module.
    return max(1, round(settings().max_examples * factor))
