"""The submission store: pages of records upserted in batches, tombstones, reconciliation marks.

Keyed by (remote form, root id): an edit replaces the stored content of the same row, a deletion marks it.
Nothing here commits; the pull commits each page together with the cursor that covers it.
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert
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
    Writes go out as one bulk INSERT and one bulk UPDATE per page: a page of 1,000 is two statements.
    """
    by_root: dict[str, Record] = {}
    for record in records:
        by_root[record.root_id] = record  # the last one wins if a page repeats a submission
    stored = stored_state(session, remote_form_id, list(by_root))
    counts = PageCounts()
    now = utcnow()
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    seen: list[int] = []
    for root_id, record in by_root.items():
        state = stored.get(root_id)
        if state is None:
            inserts.append(
                {
                    **_columns(record),
                    "remote_form_id": remote_form_id,
                    "root_id": root_id,
                    "first_seen_at": now,
                    "changed_at": now,
                    "last_run_id": run_id,
                    "source": source,
                    "deleted": False,
                    "reconcile_mark": reconcile_mark,
                }
            )
            counts.new += 1
        elif state.content_hash == record.content_hash and not state.deleted:
            counts.unchanged += 1
            seen.append(state.id)
        else:
            updates.append(
                {
                    **_columns(record),
                    "id": state.id,
                    "deleted": False,
                    "deleted_at": None,
                    "changed_at": now,
                    "last_run_id": run_id,
                    "source": source,
                    **({"reconcile_mark": reconcile_mark} if reconcile_mark is not None else {}),
                }
            )
            counts.changed += 1
    if inserts:
        session.execute(insert(Submission), inserts)
    if updates:
        session.execute(update(Submission), updates)
    if seen and reconcile_mark is not None:
        for start in range(0, len(seen), BATCH):
            session.execute(
                update(Submission)
                .where(col(Submission.id).in_(seen[start : start + BATCH]))
                .values(reconcile_mark=reconcile_mark)
            )
    return counts


@dataclass(frozen=True)
class StoredState:
    """What the store holds for a submission, without its JSON: enough to tell whether a server row is news."""

    id: int
    content_hash: str
    deleted: bool
    instance_id: str | None
    review_state: str | None
    updated_at: dt.datetime | None


def stored_state(session: Session, remote_form_id: int, root_ids: Sequence[str]) -> dict[str, StoredState]:
    """The stored state of these root ids (absent ones are new), looked up in batches."""
    found: dict[str, StoredState] = {}
    columns = (
        Submission.root_id,
        Submission.id,
        Submission.content_hash,
        Submission.deleted,
        Submission.instance_id,
        Submission.review_state,
        Submission.updated_at,
    )
    for start in range(0, len(root_ids), BATCH):
        chunk = root_ids[start : start + BATCH]
        query = select(*columns).where(Submission.remote_form_id == remote_form_id, col(Submission.root_id).in_(chunk))
        for root_id, row_id, digest, deleted, instance_id, review_state, updated_at in session.exec(query):
            found[root_id] = StoredState(row_id, digest, deleted, instance_id, review_state, updated_at)
    return found


def _columns(record: Record) -> dict[str, Any]:
    return {
        "remote_id": record.remote_id,
        "remote_seq": record.remote_seq,
        "instance_id": record.instance_id,
        "form_version": record.form_version,
        "submitted_at": record.submitted_at,
        "updated_at": record.updated_at,
        "device_start": record.device_start,
        "device_end": record.device_end,
        "review_state": record.review_state,
        "data": record.data,
        "content_hash": record.content_hash,
    }


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
