"""The rules every text input obeys, from any door: HTTP bodies, query strings, forms, the CLI.

Standard library only, so the CLI can check its arguments without importing the web stack.
"""

from __future__ import annotations

# No single text value the service takes is longer: reasons stop at 2000 characters, ids and
# emails far sooner. Values past it are refused before any field's own rule runs.
MAX_TEXT = 4096


def shown(name: str) -> str:
    """Return a field name safe to echo in a message: printable, valid UTF-8, short."""
    text = name.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(c if c.isprintable() else "?" for c in text)[:64]


def text_problem(value: str, *, limit: int = MAX_TEXT) -> str | None:
    """Say what is wrong with `value` as stored text, or return None if nothing is."""
    if len(value) > limit:
        return f"is longer than {limit} characters"
    # PostgreSQL refuses NUL in text; SQLite would store it and truncate it on the way out.
    if "\x00" in value:
        return "contains a NUL character"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate: a JSON "\ud800" escape, or invalid UTF-8 kept by surrogateescape.
            return "is not valid UTF-8 text (a lone surrogate or invalid bytes)"
    return None
