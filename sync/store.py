"""The submission store: pages of records upserted in batches, tombstones, reconciliation marks.

Keyed by (remote form, root id): an edit replaces the stored content of the same row, a deletion marks it.
Nothing here commits; the pull commits each page together with the cursor that covers it.

Every write of a submission is one `INSERT … ON CONFLICT DO UPDATE … WHERE` (SQLite and PostgreSQL alike), so
two writers of the same submission at once (a webhook delivery racing a poll) both succeed, and the condition is
judged by the database against the row as it is then, never against an earlier read:

- a pull (the server's current state, authoritative) replaces what is stored unless the stored version is
  provably newer, and brings a tombstoned row back (an ODK restore, a late-visible Kobo row);
- a push (a webhook delivery, possibly a replay) only adds a submission or moves it forward to a provably newer
  version, and never brings a deleted one back: anything it cannot prove, the next pull settles.

"Newer" is decided from what the servers say, never from the local clock: ODK Central's `updatedAt`, and the
version chain every edit carries (`meta/deprecatedID` names the instanceID it replaced; a first version's
instanceID is the root id).
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, not_, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select, update

from catalogue.tables import utcnow
from sync.normalize import Record
from sync.tables import ChangeStamp, Submission

PUSH_SOURCES = frozenset({"hook"})
"""Sources that push a submission (may replay an old one) rather than read the server's current state."""


@dataclass
class PageCounts:
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    deleted: int = 0
    stale: int = 0
    """Of the unchanged: records left alone because the store holds a newer version, or (a push) a deletion."""

    def add(self, other: "PageCounts") -> None:
        self.new += other.new
        self.changed += other.changed
        self.unchanged += other.unchanged
        self.deleted += other.deleted
        self.stale += other.stale


BATCH = 500
"""Root ids looked up per query: small enough for any driver's parameter limit."""
UPSERT_BATCH = 200
"""Rows per upsert statement: 200 rows of 20 columns stay far below SQLite's 32,766 parameters."""

_TABLE = Submission.__table__  # type: ignore[attr-defined]
_CONTENT = (
    "remote_id",
    "remote_seq",
    "instance_id",
    "deprecated_id",
    "form_version",
    "submitted_at",
    "updated_at",
    "device_start",
    "device_end",
    "review_state",
    "data",
    "content_hash",
    "unstorable",
)
"""The columns a new version replaces."""


def _newer(a: Any, b: Any, root_id: Any) -> ColumnElement[bool]:
    """Whether version `a` is provably later than version `b` of the same submission (never NULL).

    ODK Central moves `updatedAt` on every edit and review; an edit names the version it replaced
    (`meta/deprecatedID`), and a first version (no deprecatedID, instanceID = root id) precedes every edit.
    """
    return or_(
        and_(a.updated_at.is_not(None), b.updated_at.is_not(None), a.updated_at > b.updated_at),
        and_(a.deprecated_id.is_not(None), b.instance_id.is_not(None), a.deprecated_id == b.instance_id),
        and_(
            a.deprecated_id.is_not(None),
            b.deprecated_id.is_(None),
            b.instance_id.is_not(None),
            b.instance_id == root_id,
        ),
    )


def _upsert_statement(session: Session, rows: list[dict[str, Any]], *, push: bool) -> Any:
    """One `INSERT … ON CONFLICT (remote_form_id, root_id) DO UPDATE … WHERE` for these rows, returning the root
    ids it wrote (a row the condition refused is not returned)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement: Any = postgresql.insert(_TABLE).values(rows)
    elif dialect == "sqlite":
        statement = sqlite.insert(_TABLE).values(rows)
    else:
        raise NotImplementedError(f"no upsert for the {dialect} database; SERA runs on SQLite or PostgreSQL")
    stored, sent = _TABLE.c, statement.excluded
    differs = stored.content_hash != sent.content_hash
    if push:
        condition = and_(
            stored.deleted.is_(False),
            differs,
            _newer(sent, stored, stored.root_id),
            not_(_newer(stored, sent, stored.root_id)),
        )
    else:
        condition = and_(or_(differs, stored.deleted.is_(True)), not_(_newer(stored, sent, stored.root_id)))
    changes = {name: getattr(sent, name) for name in _CONTENT}
    changes |= {
        "deleted": False,
        "deleted_at": None,
        "changed_at": sent.changed_at,
        "last_run_id": sent.last_run_id,
        "source": sent.source,
        "reconcile_mark": func.coalesce(sent.reconcile_mark, stored.reconcile_mark),
        # ON CONFLICT … DO UPDATE does not apply the column's onupdate: stamp the change for incremental compute.
        "change_seq": ChangeStamp(),
    }
    return statement.on_conflict_do_update(
        index_elements=[stored.remote_form_id, stored.root_id], set_=changes, where=condition
    ).returning(stored.root_id)


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

    A pull replaces unless the store holds a provably newer version, and a record that comes back after a
    tombstone (an ODK restore, a late-visible Kobo row) is live again. A push (`source` in PUSH_SOURCES) never
    replaces a version it cannot prove older, and never brings a deleted row back. Rows identical to the stored
    ones are not sent to the database; the others go out as one upsert per UPSERT_BATCH rows, in root id order
    (so that two writers lock shared rows in the same order).
    """
    push = source in PUSH_SOURCES
    by_root: dict[str, Record] = {}
    for record in records:
        by_root[record.root_id] = record  # the last one wins if a page repeats a submission
    stored = stored_state(session, remote_form_id, list(by_root))
    counts = PageCounts()
    now = utcnow()
    writes: list[dict[str, Any]] = []
    seen: list[str] = []
    for root_id, record in sorted(by_root.items()):
        state = stored.get(root_id)
        if state is not None and state.content_hash == record.content_hash and not state.deleted:
            counts.unchanged += 1
            seen.append(root_id)
        else:
            writes.append(
                {
                    **_columns(record),
                    "remote_form_id": remote_form_id,
                    "root_id": root_id,
                    "first_seen_at": now,
                    "changed_at": now,
                    "last_run_id": run_id,
                    "source": source,
                    "deleted": False,
                    "deleted_at": None,
                    "reconcile_mark": reconcile_mark,
                }
            )
    written: set[str] = set()
    for start in range(0, len(writes), UPSERT_BATCH):
        statement = _upsert_statement(session, writes[start : start + UPSERT_BATCH], push=push)
        written.update(session.execute(statement).scalars())
    refused = [row["root_id"] for row in writes if row["root_id"] not in written]
    now_stored = stored_state(session, remote_form_id, refused) if refused else {}
    for row in writes:
        root_id = row["root_id"]
        if root_id in written:
            if root_id in stored:
                counts.changed += 1
            else:
                counts.new += 1
            continue
        counts.unchanged += 1
        state = now_stored.get(root_id)
        if state is None or state.content_hash != row["content_hash"] or state.deleted:
            counts.stale += 1
        if not push:
            seen.append(root_id)  # the server has it: a reconciliation saw it, whatever the store keeps
    if seen and reconcile_mark is not None:
        mark_seen(session, remote_form_id, seen, reconcile_mark)
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
        "deprecated_id": record.deprecated_id,
        "unstorable": record.unstorable or None,
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


def unseen_live(session: Session, remote_form_id: int, mark: int, *, limit: int = BATCH) -> list[tuple[str, str]]:
    """(Stored key, server id) of live submissions a reconciliation did not see: deletion candidates, to confirm
    one by one by their server id. Every such row is one, whatever its `_id` (a bound on `remote_seq` would leave
    out the newest rows, and a row whose id has no number column)."""
    query = select(Submission.root_id, Submission.remote_id).where(
        Submission.remote_form_id == remote_form_id,
        col(Submission.deleted).is_(False),
        (col(Submission.reconcile_mark).is_(None)) | (col(Submission.reconcile_mark) != mark),
    )
    return [(root, remote) for root, remote in session.exec(query.order_by(col(Submission.id)).limit(limit))]
