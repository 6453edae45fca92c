"""The submission store: pages of records upserted in batches, tombstones, reconciliation marks.

Keyed by (remote form, root id): an edit replaces the stored content of the same row, a deletion marks it.
Nothing here commits; the pull commits each page together with the cursor that covers it.
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, select, update

from catalogue.tables import utcnow
from sync.normalize import Record
from sync.tables import Submission


@dataclass
class PageCounts:
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    deleted: int = 0

    def add(self, other: "PageCounts") -> None:
        self.new += other.new
        self.changed += other.changed
        self.unchanged += other.unchanged
        self.deleted += other.deleted


BATCH = 500
"""Root ids looked up per query: small enough for any driver's parameter limit."""


def existing(session: Session, remote_form_id: int, root_ids: Sequence[str]) -> dict[str, Submission]:
    """Stored submissions of a form by root id, looked up in batches."""
    found: dict[str, Submission] = {}
    for start in range(0, len(root_ids), BATCH):
        chunk = root_ids[start : start + BATCH]
        query = select(Submission).where(
            Submission.remote_form_id == remote_form_id, col(Submission.root_id).in_(chunk)
        )
        found.update((row.root_id, row) for row in session.exec(query))
    return found


def upsert_records(
    session: Session,
    remote_form_id: int,
    records: Iterable[Record],
    *,
    run_id: int | None,
    source: str,
    reconcile_mark: int | None = None,
) -> PageCounts:
    """Store a page: new rows inserted, changed ones replaced, identical ones left alone (a duplicate is harmless).

    A record that comes back after a tombstone (an ODK restore, a late-visible Kobo row) is live again.
    """
    by_root: dict[str, Record] = {}
    for record in records:
        by_root[record.root_id] = record  # the last one wins if a page repeats a submission
    stored = existing(session, remote_form_id, list(by_root))
    counts = PageCounts()
    now = utcnow()
    for root_id, record in by_root.items():
        row = stored.get(root_id)
        if row is None:
            session.add(_new_row(remote_form_id, record, run_id, source, now, reconcile_mark))
            counts.new += 1
            continue
        if reconcile_mark is not None:
            row.reconcile_mark = reconcile_mark
        if row.content_hash == record.content_hash and not row.deleted:
            counts.unchanged += 1
            if reconcile_mark is not None:
                session.add(row)
            continue
        _apply(row, record)
        row.deleted, row.deleted_at = False, None
        row.changed_at, row.last_run_id, row.source = now, run_id, source
        session.add(row)
        counts.changed += 1
    session.flush()
    return counts


def _new_row(
    remote_form_id: int, record: Record, run_id: int | None, source: str, now: dt.datetime, mark: int | None
) -> Submission:
    row = Submission(
        remote_form_id=remote_form_id,
        root_id=record.root_id,
        content_hash=record.content_hash,
        first_seen_at=now,
        changed_at=now,
        last_run_id=run_id,
        source=source,
        reconcile_mark=mark,
    )
    _apply(row, record)
    return row


def _apply(row: Submission, record: Record) -> None:
    row.remote_id = record.remote_id
    row.remote_seq = record.remote_seq
    row.instance_id = record.instance_id
    row.form_version = record.form_version
    row.submitted_at = record.submitted_at
    row.updated_at = record.updated_at
    row.device_start = record.device_start
    row.device_end = record.device_end
    row.review_state = record.review_state
    row.data = record.data
    row.content_hash = record.content_hash


def tombstone(
    session: Session,
    remote_form_id: int,
    root_ids: Sequence[str],
    *,
    run_id: int | None,
    deleted_at: dt.datetime | None = None,
) -> int:
    """Mark submissions deleted (the raw data stays, for audit and restatements); returns how many changed."""
    count = 0
    now = utcnow()
    for start in range(0, len(root_ids), BATCH):
        chunk = root_ids[start : start + BATCH]
        result = session.execute(
            update(Submission)
            .where(
                Submission.remote_form_id == remote_form_id,
                col(Submission.root_id).in_(chunk),
                col(Submission.deleted).is_(False),
            )
            .values(deleted=True, deleted_at=deleted_at or now, changed_at=now, last_run_id=run_id)
        )
        count += result.rowcount or 0  # type: ignore[attr-defined]
    return count


def mark_seen(session: Session, remote_form_id: int, root_ids: Sequence[str], mark: int) -> None:
    """Note that a reconciliation saw these submissions on the server."""
    for start in range(0, len(root_ids), BATCH):
        chunk = root_ids[start : start + BATCH]
        session.execute(
            update(Submission)
            .where(Submission.remote_form_id == remote_form_id, col(Submission.root_id).in_(chunk))
            .values(reconcile_mark=mark)
        )


def unseen_live(
    session: Session, remote_form_id: int, mark: int, *, max_seq: int | None = None, limit: int = BATCH
) -> list[Submission]:
    """Live submissions a reconciliation did not see: deletion candidates, to confirm one by one."""
    query = select(Submission).where(
        Submission.remote_form_id == remote_form_id,
        col(Submission.deleted).is_(False),
        (col(Submission.reconcile_mark).is_(None)) | (col(Submission.reconcile_mark) != mark),
    )
    if max_seq is not None:
        query = query.where(col(Submission.remote_seq) <= max_seq)
    return list(session.exec(query.order_by(col(Submission.id)).limit(limit)))
