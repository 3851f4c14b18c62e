"""The 5-minute comment edit window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from entitlements_client import Policy, may_edit_comment

POSTED = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)
POLICY = Policy(
    comment_edit_window=timedelta(seconds=300), grandfather_cutoff=None, grandfather_until=None
)


@pytest.mark.parametrize(
    ("elapsed", "editable"),
    [(0, True), (299, True), (299.999, True), (300, False), (301, False), (-5, True)],
)
def test_comment_is_editable_for_five_minutes(elapsed: float, editable: bool) -> None:
    assert may_edit_comment(POSTED, POSTED + timedelta(seconds=elapsed), POLICY) is editable


def test_window_may_be_given_directly() -> None:
    assert not may_edit_comment(POSTED, POSTED + timedelta(minutes=2), timedelta(minutes=1))


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        may_edit_comment(POSTED.replace(tzinfo=None), POSTED, POLICY)
