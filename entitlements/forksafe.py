"""Renew, in a forked child, what a process must not share with its parent.

gunicorn imports the app and runs the production preflight in its master, then forks the
workers. A database socket, an HTTP keep-alive connection or a lock held at that instant would
otherwise be shared by every worker: two workers reading replies on one socket read each other's
rows (a made-up service key was once answered as a real one that way).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable
from typing import Any


def renew_after_fork(owner: Any, renew: Callable[[Any], None]) -> None:
    """Call `renew(owner)` in every child forked from now on, for as long as `owner` lives.

    `os.register_at_fork` cannot unregister, so the callback holds `owner` weakly: an app
    built by a test and dropped costs one dead weak reference, not a leak.
    """
    ref = weakref.ref(owner)

    def _in_child() -> None:
        alive = ref()
        if alive is not None:
            renew(alive)

    os.register_at_fork(after_in_child=_in_child)
