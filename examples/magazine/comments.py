"""The magazine's own comments, in a SQLite file of its own (stdlib sqlite3)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

MAX_BODY = 2000
SCHEMA = """
CREATE TABLE IF NOT EXISTS comments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    article TEXT NOT NULL,
    account_id TEXT NOT NULL,
    body TEXT NOT NULL,
    posted_at TEXT NOT NULL,
    edited_at TEXT
)
"""


@dataclass(frozen=True)
class Comment:
    """One reader's comment on one article."""

    id: int
    article: str
    account_id: str
    body: str
    posted_at: datetime
    edited_at: datetime | None


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).astimezone(UTC)


def _comment(row: sqlite3.Row) -> Comment:
    posted_at = _time(row["posted_at"])
    assert posted_at is not None  # NOT NULL in the schema
    return Comment(
        row["id"], row["article"], row["account_id"], row["body"], posted_at,
        _time(row["edited_at"]),
    )


class CommentStore:
    """Add, list and edit comments; one short-lived connection per call (threads share none)."""

    def __init__(self, path: str) -> None:
        self.path = path
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=5)) as db:
            db.row_factory = sqlite3.Row
            with db:  # one transaction: committed on success, rolled back on an error
                yield db

    def add(self, article: str, account_id: str, body: str, *, now: datetime) -> int:
        """Store a comment posted at `now`; return its id."""
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO comments (article, account_id, body, posted_at) VALUES (?, ?, ?, ?)",
                (article, account_id, body, now.isoformat()),
            )
            return int(cursor.lastrowid or 0)

    def list(self, article: str) -> list[Comment]:
        """Return an article's comments, oldest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM comments WHERE article = ? ORDER BY id", (article,)
            ).fetchall()
        return [_comment(row) for row in rows]

    def get(self, comment_id: int) -> Comment | None:
        """Return one comment, or None."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM comments WHERE id = ?", (comment_id,)).fetchone()
        return None if row is None else _comment(row)

    def edit(self, comment_id: int, body: str, *, now: datetime) -> None:
        """Replace a comment's text (the caller checked the owner and the edit window)."""
        with self._connect() as db:
            db.execute(
                "UPDATE comments SET body = ?, edited_at = ? WHERE id = ?",
                (body, now.isoformat(), comment_id),
            )


def clean_body(text: str) -> str | None:
    """Return the comment text stripped, or None if empty or over MAX_BODY characters."""
    body = text.strip()
    return body if 0 < len(body) <= MAX_BODY else None
