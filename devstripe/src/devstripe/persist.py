"""The emulator's state file: a restarted emulator still knows its customers and subscriptions.

Webhook endpoints are not kept: they are configuration each start passes again (the demo signs
with a fresh secret every run). Events still owed to an endpoint are queued again for the
endpoints of the new run.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from pathlib import Path

from devstripe.store import API_VERSION, Store

FORMAT = 1
NOT_KEPT = ("webhook_endpoint",)


class StateFileError(RuntimeError):
    """The state file exists but is not emulator state this version can read."""


class StateFile:
    """One JSON file holding an emulator's objects, rewritten atomically when they change."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._written: str | None = None
        self._lock = threading.Lock()

    def load(self, st: Store) -> bool:
        """Load the file into `st` if it exists; return whether it did."""
        try:
            text = self.path.read_text("utf-8")
        except FileNotFoundError:
            return False
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT or data.get("api_version") != API_VERSION:
                raise ValueError(f"format {data.get('format')!r} {data.get('api_version')!r}")
            st.import_state(data["state"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StateFileError(
                f"{self.path} is not emulator state this version can read ({exc}); move it "
                "away to start with an empty emulator"
            ) from exc
        self._written = text
        return True

    def save(self, st: Store) -> None:
        """Write the state if it changed since the last write; readers never see half a file."""
        with self._lock:
            state = st.export_state(skip_kinds=NOT_KEPT)
            text = json.dumps(
                {"format": FORMAT, "api_version": API_VERSION, "state": state},
                separators=(",", ":"),
            )
            if text == self._written:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(
                dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
            )
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    out.write(text)
                # A rename replaces the file in one step: a crash leaves the old or the new one.
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
            self._written = text
