"""The pure half of the grandfather import: reading and classifying a CSV of past commenters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from entitlements.errors import InvalidError
from entitlements.services.grandfather import (
    ImportRow,
    InvalidRow,
    decode_csv,
    file_sha256,
    parse_import,
    plan_import,
)

CUTOFF = datetime(2024, 2, 29, tzinfo=UTC)
HEADER = "account_id,last_commented_at\n"


def plan(body: str, existing: set[str] | None = None) -> object:
    return plan_import(HEADER + body, cutoff=CUTOFF, existing=existing or set())


def test_rows_are_classified_new_already_after_cutoff_and_invalid_with_exact_counts() -> None:
    result = plan_import(
        HEADER
        + "alice,2023-05-01T10:00:00Z\n"
        + "bob,2024-01-01\n"
        + "carol,2024-03-01T00:00:00Z\n"
        + "bad id,2023-01-01T00:00:00Z\n"
        + "dave,2022-12-31T23:59:59+01:00\n",
        cutoff=CUTOFF,
        existing={"bob"},
    )
    assert result.counts() == {
        "rows": 5,
        "new": 2,
        "already_grandfathered": 1,
        "after_cutoff": 1,
        "invalid": 1,
    }
    assert [r.account_id for r in result.new] == ["alice", "dave"]
    assert result.new[1].last_commented_at == datetime(2022, 12, 31, 22, 59, 59, tzinfo=UTC)
    assert [r.account_id for r in result.already_grandfathered] == ["bob"]
    assert result.after_cutoff == (
        ImportRow(4, "carol", datetime(2024, 3, 1, tzinfo=UTC)),
    )
    assert result.invalid[0].line == 5


def test_a_comment_exactly_at_the_cutoff_is_after_it() -> None:
    result = plan_import(
        HEADER + "edge,2024-02-29T00:00:00Z\nbefore,2024-02-28T23:59:59Z\n",
        cutoff=CUTOFF,
        existing=set(),
    )
    assert [r.account_id for r in result.after_cutoff] == ["edge"]
    assert [r.account_id for r in result.new] == ["before"]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("alice", "missing column"),
        ("alice,2023-01-01,extra", "too many columns"),
        (",2023-01-01", "missing account_id"),
        ("alice,", "missing last_commented_at"),
        (",", None),  # a line of empty fields is blank: skipped, not invalid
        ("has space,2023-01-01", "bad account id 'has space'"),
        ("x" * 65 + ",2023-01-01", "bad account id"),
        ("ünï,2023-01-01", "bad account id"),
        ("alice,yesterday", "bad timestamp 'yesterday': expected ISO 8601"),
        ("alice,2023-13-01", "bad timestamp"),
        ("alice,0001-01-01T00:00:00+01:00", "bad timestamp"),
    ],
)
def test_each_kind_of_bad_line_is_invalid_with_its_reason(line: str, reason: str | None) -> None:
    parsed = parse_import(HEADER + line + "\n", cutoff=CUTOFF)
    if reason is None:
        assert parsed.invalid == ()
        assert parsed.before_cutoff == parsed.after_cutoff == ()
        return
    [invalid] = parsed.invalid
    assert invalid.line == 2
    assert reason in invalid.reason


def test_line_numbers_are_physical_one_based_and_count_the_header_and_blank_lines() -> None:
    parsed = parse_import(
        HEADER + "ok-1,2023-01-01\n\nbad id,2023-01-01\nok-2,2023-01-01\n\n\nnope,soon\n",
        cutoff=CUTOFF,
    )
    assert [(r.line, r.reason.split(" ")[0]) for r in parsed.invalid] == [(4, "bad"), (8, "bad")]
    assert [r.line for r in parsed.before_cutoff] == [2, 5]


def test_a_repeated_account_is_invalid_and_names_the_earlier_line() -> None:
    parsed = parse_import(
        HEADER + "alice,2023-01-01\nbob,2023-01-01\nalice,2023-06-01\n", cutoff=CUTOFF
    )
    assert parsed.invalid == (InvalidRow(4, "duplicate of line 2 (alice)"),)
    assert [r.account_id for r in parsed.before_cutoff] == ["alice", "bob"]


def test_header_may_name_the_columns_in_either_order_with_spaces_and_a_bom() -> None:
    parsed = parse_import(
        "\ufeff Last_Commented_At , account_id \r\n2023-01-01T00:00:00Z,alice\r\n", cutoff=CUTOFF
    )
    assert parsed.before_cutoff == (ImportRow(2, "alice", datetime(2023, 1, 1, tzinfo=UTC)),)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("\n\n", "the file is empty"),
        ("alice,2023-01-01\n", "line 1 must be the header account_id,last_commented_at"),
        ("account_id,when\n", "line 1 must be the header"),
        ("account_id,last_commented_at,extra\n", "line 1 must be the header"),
    ],
)
def test_a_missing_or_wrong_header_rejects_the_whole_file(text: str, message: str) -> None:
    with pytest.raises(InvalidError, match=message):
        parse_import(text, cutoff=CUTOFF)


def test_a_header_only_file_plans_nothing() -> None:
    result = plan_import(HEADER, cutoff=CUTOFF, existing=set())
    assert result.counts() == {
        "rows": 0, "new": 0, "already_grandfathered": 0, "after_cutoff": 0, "invalid": 0,
    }


def test_quoted_fields_are_read_as_csv() -> None:
    parsed = parse_import(HEADER + '"alice","2023-01-01T00:00:00Z"\n', cutoff=CUTOFF)
    assert [r.account_id for r in parsed.before_cutoff] == ["alice"]


def test_progress_reports_every_row_once() -> None:
    seen: list[int] = []
    rows = "".join(f"reader-{i},2023-01-01\n" for i in range(12_345))
    parse_import(HEADER + rows, cutoff=CUTOFF, progress=seen.append)
    assert sum(seen) == 12_345


def test_decode_rejects_bytes_that_are_not_utf8_and_drops_a_bom() -> None:
    assert decode_csv("\ufeffaccount_id".encode()) == "account_id"
    with pytest.raises(InvalidError, match="not UTF-8"):
        decode_csv(b"account_id,last_commented_at\n\xff\xfe,2023\n")


def test_file_sha256_is_the_hex_digest_of_the_bytes() -> None:
    assert file_sha256(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_planning_is_pure_the_same_input_gives_the_same_plan() -> None:
    body = "alice,2023-01-01\nbob,2025-01-01\nbad id,x\n"
    assert plan(body, {"alice"}) == plan(body, {"alice"})
