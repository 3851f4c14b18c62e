"""Grandfathered commenters: read a CSV of past commenters (pure) and import it set-based."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from ..clock import parse_datetime, to_rfc3339
from ..errors import InvalidError, UnprocessableError
from ..models import Account, Grant
from ..models.base import dialect_insert
from .accounts import ACCOUNT_ID
from .audit import Actor, record
from .change_events import record_changes

HEADER = ("account_id", "last_commented_at")
FEATURE = "comment"
KIND = "grandfather"
# Rows per statement: under PostgreSQL's 65 535 bind parameters and SQLite's 32 766.
BATCH = 5000
# Any fixed 64-bit number: imports take it so two of them never grant one account twice.
_IMPORT_LOCK = 0x6772616E64666174
_EXAMPLE_TIME = "2023-11-05T14:30:00Z"

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One well-formed line of the file: who commented last, and when."""

    line: int
    account_id: str
    last_commented_at: datetime


@dataclass(frozen=True, slots=True)
class InvalidRow:
    """A line that cannot be imported: its 1-based line number and what is wrong with it."""

    line: int
    reason: str


@dataclass(frozen=True)
class ParsedFile:
    """A file read and checked against the cutoff, before the database is asked anything."""

    cutoff: datetime
    before_cutoff: tuple[ImportRow, ...]
    after_cutoff: tuple[ImportRow, ...]
    invalid: tuple[InvalidRow, ...]


@dataclass(frozen=True)
class ImportPlan:
    """Every data line of a file, classified: what an import would do with it."""

    cutoff: datetime
    new: tuple[ImportRow, ...]
    already_grandfathered: tuple[ImportRow, ...]
    after_cutoff: tuple[ImportRow, ...]
    invalid: tuple[InvalidRow, ...]

    @property
    def rows(self) -> int:
        """Return the number of data lines (blank lines aside)."""
        return (
            len(self.new) + len(self.already_grandfathered) + len(self.after_cutoff)
            + len(self.invalid)
        )

    def counts(self) -> dict[str, int]:
        """Return the count of each class, as reported by the CLI and the API."""
        return {
            "rows": self.rows,
            "new": len(self.new),
            "already_grandfathered": len(self.already_grandfathered),
            "after_cutoff": len(self.after_cutoff),
            "invalid": len(self.invalid),
        }


@dataclass(frozen=True)
class ImportResult:
    """What an applied import wrote."""

    plan: ImportPlan
    grants_created: int
    accounts_created: int
    # Planned as new, but another import granted them between the plan and the apply.
    granted_meanwhile: int
    audit_event_id: int | None


def file_sha256(data: bytes) -> str:
    """Return the hex SHA-256 of a file's bytes (it names the import in the audit trail)."""
    return hashlib.sha256(data).hexdigest()


def decode_csv(data: bytes) -> str:
    """Return a file's text: UTF-8, an optional byte-order mark dropped, or raise InvalidError."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidError(
            f"the file is not UTF-8 text (bad byte at offset {exc.start}); "
            "export it as UTF-8 CSV"
        ) from exc
    if "\x00" in text:
        # Python's date parser ignores a trailing NUL, PostgreSQL refuses one in text.
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise InvalidError(f"line {line}: contains a NUL character; export the file again")
    return text


def _header_columns(record: list[str]) -> tuple[int, int]:
    names = [field.strip().lower() for field in record]
    if sorted(names) != sorted(HEADER):
        got = ",".join(field.strip() for field in record)[:100]
        raise UnprocessableError(
            f"line 1 must be the header {','.join(HEADER)} (got {got!r}); "
            "add it as the first line"
        )
    return names.index("account_id"), names.index("last_commented_at")


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")


def _check_row(
    record: list[str], line: int, columns: tuple[int, int], first_seen: dict[str, int]
) -> ImportRow | InvalidRow:
    if len(record) != len(HEADER):
        what = "missing column" if len(record) < len(HEADER) else "too many columns"
        return InvalidRow(line, f"{what}: expected {','.join(HEADER)}")
    account_id, stamp = record[columns[0]].strip(), record[columns[1]].strip()
    missing = [name for name, value in zip(HEADER, (account_id, stamp), strict=True) if not value]
    if missing:
        return InvalidRow(line, f"missing {' and '.join(missing)}")
    if not ACCOUNT_ID.fullmatch(account_id):
        return InvalidRow(
            line,
            f"bad account id {_shown(account_id)}: "
            "must be 1-64 characters of A-Z, a-z, 0-9 and _ . : @ -",
        )
    earlier = first_seen.setdefault(account_id, line)
    if earlier != line:
        return InvalidRow(line, f"duplicate of line {earlier} ({account_id})")
    try:
        when = parse_datetime(stamp)
    except (ValueError, OverflowError):
        return InvalidRow(
            line, f"bad timestamp {_shown(stamp)}: expected ISO 8601 such as {_EXAMPLE_TIME}"
        )
    return ImportRow(line, account_id, when)


def parse_import(
    csv_text: str, *, cutoff: datetime, progress: Progress | None = None
) -> ParsedFile:
    """Read `account_id,last_commented_at` lines and sort them by the cutoff; pure."""
    reader = csv.reader(io.StringIO(csv_text.removeprefix("\ufeff")))
    before: list[ImportRow] = []
    after: list[ImportRow] = []
    invalid: list[InvalidRow] = []
    first_seen: dict[str, int] = {}
    try:
        header = next(reader, None)
        while header is not None and not any(field.strip() for field in header):
            header = next(reader, None)
        if header is None:
            raise UnprocessableError(
                f"the file is empty; its first line must be {','.join(HEADER)}"
            )
        columns = _header_columns(header)
        done = 0
        for record in reader:
            done += 1
            if progress is not None and done % BATCH == 0:
                progress(BATCH)
            if not any(field.strip() for field in record):
                continue
            # reader.line_num is the physical line the record ends on: 1-based, header included.
            row = _check_row(record, reader.line_num, columns, first_seen)
            if isinstance(row, InvalidRow):
                invalid.append(row)
            # "Before the cutoff" is strict: a comment at the cutoff instant is after it.
            elif row.last_commented_at < cutoff:
                before.append(row)
            else:
                after.append(row)
        if progress is not None:
            progress(done % BATCH)
    except csv.Error as exc:
        raise UnprocessableError(f"line {reader.line_num}: not valid CSV ({exc})") from exc
    return ParsedFile(cutoff, tuple(before), tuple(after), tuple(invalid))


def classify(parsed: ParsedFile, existing: Collection[str]) -> ImportPlan:
    """Split the rows before the cutoff into new and already grandfathered; pure."""
    new = tuple(row for row in parsed.before_cutoff if row.account_id not in existing)
    already = tuple(row for row in parsed.before_cutoff if row.account_id in existing)
    return ImportPlan(parsed.cutoff, new, already, parsed.after_cutoff, parsed.invalid)


def plan_import(
    csv_text: str,
    *,
    cutoff: datetime,
    existing: Collection[str],
    progress: Progress | None = None,
) -> ImportPlan:
    """Parse and classify a file against the accounts already grandfathered; pure."""
    return classify(parse_import(csv_text, cutoff=cutoff, progress=progress), existing)


def _chunks(items: Sequence[Any], size: int = BATCH) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def grandfathered_among(session: Session, account_ids: Iterable[str]) -> set[str]:
    """Return which of these accounts have a grandfather comment grant, revoked or not."""
    # A revoked grant counts: re-importing the file must not undo an admin's revocation.
    ids = list(account_ids)
    query = (
        select(Grant.account_id)
        .where(Grant.kind == KIND, Grant.feature == FEATURE)
        .distinct()
    )
    if session.get_bind().dialect.name == "postgresql":
        # One array parameter, one query: thousands of IN parameters cost seconds a batch
        # in binding and planning, and a stale plan can turn them into a nested scan.
        array = bindparam("ids", type_=postgresql.ARRAY(Grant.account_id.type))
        return set(session.scalars(query.where(Grant.account_id == func.any(array)), {"ids": ids}))
    found: set[str] = set()
    for batch in _chunks(ids):
        found.update(session.scalars(query.where(Grant.account_id.in_(batch))))
    return found


def plan_for(
    session: Session, csv_text: str, *, cutoff: datetime, progress: Progress | None = None
) -> ImportPlan:
    """Parse a file and classify it against the database: a dry run writes nothing."""
    parsed = parse_import(csv_text, cutoff=cutoff, progress=progress)
    existing = grandfathered_among(session, (row.account_id for row in parsed.before_cutoff))
    return classify(parsed, existing)


def invalid_summary(plan: ImportPlan) -> str:
    """Return a one-line account of a plan's invalid rows and what to do about them."""
    first = plan.invalid[0]
    return (
        f"{len(plan.invalid)} invalid row(s) (first: line {first.line}: {first.reason}); "
        "fix them or skip them with --skip-invalid (API: skip_invalid=true); "
        "nothing was imported"
    )


def _insert_ignoring_duplicates(session: Session, table: Table) -> Any:
    """Return INSERT ... ON CONFLICT DO NOTHING RETURNING id for the session's engine."""
    return dialect_insert(session, table).on_conflict_do_nothing().returning(table.c.id)


def _lock_imports(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        # Released at commit or rollback; SQLite already runs one writer at a time.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _IMPORT_LOCK})


def apply_import(
    session: Session,
    plan: ImportPlan,
    *,
    actor: Actor,
    now: datetime,
    file_sha256: str,
    skip_invalid: bool = False,
    progress: Progress | None = None,
) -> ImportResult:
    """Grant comment from the cutoff, following the policy end, to every new account."""
    if plan.invalid and not skip_invalid:
        raise UnprocessableError(invalid_summary(plan))
    _lock_imports(session)
    meanwhile = grandfathered_among(session, (row.account_id for row in plan.new))
    rows = [row for row in plan.new if row.account_id not in meanwhile]
    if not rows:
        # Nothing to grant: write nothing at all, so a repeated import leaves no trace.
        return ImportResult(plan, 0, 0, len(meanwhile), None)

    # Core statements on the Table objects: ORM bulk inserts treat RETURNING and rowcounts
    # differently, and plain executemany is what PostgreSQL's driver pipelines fastest.
    accounts = _insert_ignoring_duplicates(session, cast(Table, Account.__table__))
    grants = cast(Table, Grant.__table__).insert()
    accounts_created = 0
    for batch in _chunks(rows):
        # RETURNING names only the rows inserted: executemany rowcounts differ by driver.
        created = session.scalars(
            accounts,
            [{"id": row.account_id, "token_version": 0, "created_at": now} for row in batch],
        )
        accounts_created += len(created.all())
        session.execute(
            grants,
            [
                {
                    "account_id": row.account_id,
                    "feature": FEATURE,
                    "kind": KIND,
                    "starts_at": plan.cutoff,
                    "ends_at": None,
                    "ends_by_policy": True,
                    "reason": "commented before the cutoff "
                    f"(last comment {row.last_commented_at.date().isoformat()})",
                    "actor": actor.name,
                    "created_at": now,
                }
                for row in batch
            ],
        )
        record_changes(
            session, [row.account_id for row in batch], reason="grandfather.import", now=now,
            features=[FEATURE],
        )
        if progress is not None:
            progress(len(batch))
    counts = {
        **plan.counts(),
        "new": len(rows),
        "already_grandfathered": len(plan.already_grandfathered) + len(meanwhile),
    }
    event = record(
        session,
        actor,
        action="grandfather.import",
        subject_type="grandfather_import",
        subject_id=file_sha256,
        account_id=None,
        now=now,
        after={
            **counts,
            "grants_created": len(rows),
            "accounts_created": accounts_created,
            "file_sha256": file_sha256,
            "cutoff": to_rfc3339(plan.cutoff),
        },
        reason=f"imported {len(rows)} past commenter(s) from a CSV file",
    )
    # Flush for the audit record's id, which the caller reports.
    session.flush()
    return ImportResult(plan, len(rows), accounts_created, len(meanwhile), event.id)


def period_warnings(until: datetime, *, now: datetime) -> list[str]:
    """Say plainly when imported rows grant nothing because the period has already ended."""
    if until > now:
        return []
    return [
        f"the grandfather period ended on {to_rfc3339(until)} "
        "(ENTITLEMENTS_GRANDFATHER_UNTIL): these rows grant no commenting until the period "
        "is moved"
    ]
