"""The comment edit window: a comment may be edited for a while after posting (5 minutes)."""

from __future__ import annotations

from datetime import datetime, timedelta

from .results import Policy


def may_edit_comment(posted_at: datetime, now: datetime, policy: Policy | timedelta) -> bool:
    """Return whether a comment posted at `posted_at` may still be edited at `now`."""
    if posted_at.tzinfo is None or now.tzinfo is None:
        raise ValueError("posted_at and now must be timezone-aware")
    window = policy if isinstance(policy, timedelta) else policy.comment_edit_window
    # Strictly inside the window: at exactly 5:00 the comment is final. A posted_at slightly
    # ahead of `now` (clock skew between hosts) is still editable.
    return now - posted_at < window
