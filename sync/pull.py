"""Incremental pull of one form into the store, following each platform's contract.

Every page is written in its own transaction together with the cursor that covers it, so a run killed at
any point resumes where its last page ended: nothing is lost (the window is re-read from the last committed
position) and nothing is duplicated (rows are keyed by root id and identical content is left alone).
Cursors hold server values only (ids, server times), never the local clock.

Kobo (contracts/kobo-api.md §6): a tail scan keyset on `_id` over a look-back window of `_submission_time`;
a change sweep over edited rows (`meta/deprecatedID` exists, `_uuid` changed) and recent validation statuses;
and a reconciliation over all ids that finds deletions, confirmed one by one before a tombstone is written.
ODK Central (contracts/odk-central.md §6.4): OData pages by `@odata.nextLink`, a window on `submissionDate`
or `updatedAt` with overlap, `deletedAt` where the server has it, and the same reconciliation.
"""

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from catalogue.tables import utcnow
from sera.db import session_scope
from sync.kobo.client import KoboClient
from sync.normalize import Record, kobo_record, kobo_root, odk_record, read_server_time, root_key
from sync.odk.client import CentralClient
from sync.odk.odata import ODataPage
from sync.runs import record_page
from sync.store import PageCounts, mark_seen, stored_state, tombstone, unseen_live, upsert_records
from sync.tables import RemoteForm, Submission

KOBO_TIME = "%Y-%m-%dT%H:%M:%S"
LIGHT_FIELDS = ["_id", "_uuid", "_validation_status", "meta/rootUuid", "meta/instanceID"]
"""What a change sweep or a reconciliation needs to know whether a stored row is current."""
IN_CHUNK = 100
"""Ids per `$in` refetch: Kobo's proxy caps query strings at 16 KiB."""
CENTRAL_PURGE = dt.timedelta(days=31)
"""Central purges a deleted submission 30 days after its deletion (a day more for clocks): an older tombstone
cannot be restored, so it is not asked about again."""


@dataclass(frozen=True)
class PullOptions:
    full: bool = False
    """Re-read everything and reconcile, instead of the incremental window."""
    page_size: int = 1000
    kobo_lookback: dt.timedelta = dt.timedelta(minutes=60)
    odk_overlap: dt.timedelta = dt.timedelta(minutes=5)
    reconcile_every: dt.timedelta = dt.timedelta(hours=24)


@dataclass
class _Pull:
    """What both platforms share: committing a page with its cursor, and counting."""

    engine: Engine
    remote_form_id: int
    run_id: int
    options: PullOptions
    on_page: Callable[[PageCounts], None] = lambda _counts: None
    counts: PageCounts = field(default_factory=PageCounts)

    def cursor(self) -> dict[str, Any]:
        with session_scope(self.engine) as session:
            form = session.get(RemoteForm, self.remote_form_id)
            assert form is not None
            return dict(form.cursor)

    def commit(
        self,
        records: Sequence[Record] = (),
        *,
        cursor: dict[str, Any] | None = None,
        deleted: Sequence[tuple[str, dt.datetime | None]] = (),
        seen: Sequence[str] = (),
        mark: int | None = None,
        source: str = "poll",
        form_updates: dict[str, Any] | None = None,
    ) -> PageCounts:
        """One page in one transaction: rows, tombstones, reconciliation marks, cursor and run counters."""
        with session_scope(self.engine) as session:
            counts = upsert_records(
                session, self.remote_form_id, records, run_id=self.run_id, source=source, reconcile_mark=mark
            )
            for root_id, when in deleted:
                counts.deleted += tombstone(
                    session, self.remote_form_id, [root_id], run_id=self.run_id, deleted_at=when
                )
            if seen and mark is not None:
                mark_seen(session, self.remote_form_id, seen, mark)
            form = session.get(RemoteForm, self.remote_form_id)
            assert form is not None
            if cursor is not None:
                form.cursor = cursor
            for key, value in (form_updates or {}).items():
                setattr(form, key, value)
            session.add(form)
            record_page(session, self.run_id, counts)
        self.counts.add(counts)
        self.on_page(counts)
        return counts

    def reconcile_due(self, last: dt.datetime | None) -> bool:
        if self.options.full or last is None:
            return True
        return utcnow() - last >= self.options.reconcile_every

    def last_reconciled(self) -> dt.datetime | None:
        with session_scope(self.engine) as session:
            form = session.get(RemoteForm, self.remote_form_id)
            assert form is not None
            return form.last_reconciled_at

    def confirm_deletions(
        self,
        mark: int,
        lookup: Callable[[str, str], tuple[bool, dict[str, Any] | None]],
        to_record: Callable[[dict[str, Any]], Record],
    ) -> None:
        """Live rows the reconciliation did not see, asked one by one: `lookup(root id, remote id)` answers
        `(present, row)`. Only `present=False` (the server proved the row absent) writes a tombstone; a row
        still there is stored again when the server gave it, and marked seen either way. A lookup that cannot
        prove anything raises, so the run fails and nothing is tombstoned on a guess."""
        while True:
            with session_scope(self.engine) as session:
                candidates = unseen_live(session, self.remote_form_id, mark, limit=100)
            if not candidates:
                return
            found: list[Record] = []
            gone: list[tuple[str, dt.datetime | None]] = []
            for root_id, remote_id in candidates:
                present, row = lookup(root_id, remote_id)
                if not present:
                    gone.append((root_id, None))
                elif row is not None:
                    found.append(to_record(row))
            # A candidate the server still has is marked seen under its own root id, so the loop always ends.
            gone_roots = {root_id for root_id, _when in gone}
            kept = [root_id for root_id, _remote in candidates if root_id not in gone_roots]
            self.commit(found, deleted=gone, seen=kept, mark=mark, source="reconcile")


def _recent_tombstones(session: Session, remote_form_id: int) -> list[tuple[str, str]]:
    """(Stored key, server id) of this form's rows stored as deleted within Central's purge delay (the ones a
    restore can revive)."""
    since = utcnow() - CENTRAL_PURGE
    query = select(Submission.root_id, Submission.remote_id).where(
        Submission.remote_form_id == remote_form_id,
        col(Submission.deleted).is_(True),
        col(Submission.deleted_at) >= since,
    )
    return [(root, remote) for root, remote in session.exec(query.order_by(col(Submission.id)))]


# --- Kobo --------------------------------------------------------------------------------------------------


def _kobo_time(value: str, minus: dt.timedelta) -> str | None:
    """A `_submission_time` string moved back by the look-back window, in the server's own format; None (read
    from the start) for a cursor that holds no time."""
    parsed = read_server_time(value)
    if parsed is None or parsed - dt.datetime.min.replace(tzinfo=dt.UTC) <= minus:
        return None
    return (parsed - minus).astimezone(dt.UTC).strftime(KOBO_TIME)


def _latest(times: Iterable[str | None]) -> str | None:
    """The latest of these server times as sent, ignoring any that is no time (it must not become a cursor)."""
    parsed = [(moment, text) for text in times if text and (moment := read_server_time(text)) is not None]
    return max(parsed, key=lambda pair: pair[0])[1] if parsed else None


def _status_stamp(row: dict[str, Any]) -> int | None:
    """A validation status's `timestamp` (Unix seconds), None when absent or not an integer (left out of the
    cursor; the row itself is compared and stored like any other)."""
    status = row.get("_validation_status")
    stamp = status.get("timestamp") if isinstance(status, dict) else None
    if isinstance(stamp, bool) or not isinstance(stamp, int | str):
        return None
    try:
        return int(stamp)
    except ValueError:
        return None


@dataclass
class KoboPull(_Pull):
    client: KoboClient | None = None
    asset_uid: str = ""

    def _scan(
        self, query: dict[str, Any], last_id: int, fields: list[str] | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Keyset pages over `_id` (stable under deletions mid-scan, no deep offsets)."""
        assert self.client is not None
        while True:
            page = self.client.data_page(
                self.asset_uid,
                query={**query, "_id": {"$gt": last_id}},
                sort={"_id": 1},
                fields=fields,
                limit=self.options.page_size,
            )
            if not page.results:
                return
            yield page.results
            last_id = int(page.results[-1]["_id"])
            if page.next is None:
                return

    def run(self) -> PageCounts:
        self.tail()
        self.changes()
        if self.reconcile_due(self.last_reconciled()):
            self.reconcile()
        return self.counts

    def tail(self) -> None:
        """New and late rows: everything from the look-back window on, keyset on `_id`, resumable mid-sweep."""
        cursor = self.cursor()
        sweep = cursor.get("tail")
        if sweep is None:
            hwm = None if self.options.full else cursor.get("hwm")
            since = _kobo_time(hwm, self.options.kobo_lookback) if hwm else None
            sweep = {"since": since, "last_id": 0, "max_time": cursor.get("hwm")}
        query = {"_submission_time": {"$gte": sweep["since"]}} if sweep["since"] else {}
        for results in self._scan(query, int(sweep["last_id"])):
            records = [kobo_record(row) for row in results]
            times = [str(row["_submission_time"]) for row in results if row.get("_submission_time")]
            sweep = {**sweep, "last_id": int(results[-1]["_id"]), "max_time": _latest([*times, sweep["max_time"]])}
            cursor = {**cursor, "tail": sweep}
            self.commit(records, cursor=cursor)
        cursor = {**cursor, "tail": None, "hwm": sweep["max_time"] or cursor.get("hwm")}
        self.commit(cursor=cursor)

    def _refetch(self, ids: Sequence[int]) -> list[Record]:
        assert self.client is not None
        records: list[Record] = []
        for start in range(0, len(ids), IN_CHUNK):
            chunk = [int(i) for i in ids[start : start + IN_CHUNK]]
            page = self.client.data_page(
                self.asset_uid, query={"_id": {"$in": chunk}}, sort={"_id": 1}, limit=len(chunk)
            )
            records.extend(kobo_record(row) for row in page.results)
        return records

    def _stale(self, rows: list[dict[str, Any]]) -> tuple[list[int], list[str]]:
        """Split light rows (`_id`, `_uuid`, status) into ids whose stored copy differs and stored keys that match
        (found under the key the row is stored with: a digest for an over-long root id)."""
        by_root = {root_key(kobo_root(row)): row for row in rows}
        with session_scope(self.engine) as session:
            stored = stored_state(session, self.remote_form_id, list(by_root))
            state = {root: (s.instance_id, s.review_state, s.deleted) for root, s in stored.items()}
        stale: list[int] = []
        same: list[str] = []
        for root, row in by_root.items():
            status = row.get("_validation_status")
            uid = status.get("uid") if isinstance(status, dict) else None
            if state.get(root) == (f"uuid:{row.get('_uuid')}", uid, False):
                same.append(root)
            else:
                stale.append(int(row["_id"]))
        return stale, same

    def changes(self) -> None:
        """Edits (a new `_uuid` on a row that has `meta/deprecatedID`) and validation-status changes."""
        for results in self._scan({"meta/deprecatedID": {"$exists": True}}, 0, LIGHT_FIELDS):
            stale, _same = self._stale(results)
            if stale:
                self.commit(self._refetch(stale))
        vs_hwm = self.cursor().get("vs_hwm")
        if vs_hwm is None or self.options.full:
            condition: dict[str, Any] = {"$exists": True}
        else:
            condition = {"$gte": int(vs_hwm) - int(self.options.kobo_lookback.total_seconds())}
        newest = vs_hwm
        for results in self._scan({"_validation_status.timestamp": condition}, 0, LIGHT_FIELDS):
            for row in results:
                stamp = _status_stamp(row)
                if stamp is not None:
                    newest = stamp if newest is None else max(newest, stamp)
            stale, _same = self._stale(results)
            if stale:
                self.commit(self._refetch(stale))
        if newest != vs_hwm:
            self.commit(cursor={**self.cursor(), "vs_hwm": newest})

    def reconcile(self) -> None:
        """Every id on the server against the store: missing or changed rows refetched, absent ones confirmed."""
        cursor = self.cursor()
        state = cursor.get("reconcile") or {"mark": self.run_id, "last_id": 0}
        mark = int(state["mark"])
        for results in self._scan({}, int(state["last_id"]), LIGHT_FIELDS):
            stale, same = self._stale(results)
            state = {"mark": mark, "last_id": int(results[-1]["_id"])}
            cursor = {**cursor, "reconcile": state}
            self.commit(self._refetch(stale) if stale else [], cursor=cursor, seen=same, mark=mark, source="reconcile")
        assert self.client is not None
        client, asset = self.client, self.asset_uid
        # Every live stored row the scan did not see is a candidate, whatever its `_id`: bounding them by the
        # last id seen would never question the newest rows, nor any row of a form the scan found empty.

        def lookup(_root: str, remote_id: str) -> tuple[bool, dict[str, Any] | None]:
            row = client.get_submission(asset, int(remote_id))  # None only on Kobo's own 404, asset visible
            return row is not None, row

        self.confirm_deletions(mark, lookup, kobo_record)
        self.commit(cursor={**self.cursor(), "reconcile": None}, form_updates={"last_reconciled_at": utcnow()})


# --- ODK Central -------------------------------------------------------------------------------------------


def _odata_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _changed_time(row: dict[str, Any]) -> str | None:
    """When a row last changed, as the server sent it: `updatedAt`, else `submissionDate` (whichever is a time)."""
    system = row.get("__system") or {}
    return _latest([system.get("updatedAt")]) or _latest([system.get("submissionDate")])


@dataclass
class OdkPull(_Pull):
    client: CentralClient | None = None
    project_id: int = 0
    xml_form_id: str = ""

    def _pages(
        self, first: Callable[[], ODataPage], resume: str | None
    ) -> Iterator[tuple[list[dict[str, Any]], str | None]]:
        """Pages by nextLink (a stable `$skiptoken` cursor); stops on no link or an empty page."""
        assert self.client is not None
        page = self.client.follow(resume) if resume else first()
        while True:
            yield page.value, page.next_link
            if not page.value or not page.next_link:
                return
            page = self.client.follow(page.next_link)

    def run(self) -> PageCounts:
        self.window()
        self.deletions()
        if self.reconcile_due(self.last_reconciled()):
            self.reconcile()
        return self.counts

    def window(self) -> None:
        """New and changed rows since the cursor less the overlap (`updatedAt` is null until a first change)."""
        assert self.client is not None
        client = self.client
        cursor = self.cursor()
        sweep = cursor.get("window")
        if sweep is None:
            since = None if self.options.full else cursor.get("changed")
            sweep = {"since": since, "next": None, "max": cursor.get("changed")}
        start = read_server_time(sweep["since"])  # a cursor that holds no time reads from the start
        if start is not None:
            bound = _odata_time(start - self.options.odk_overlap)
            odata_filter: str | None = f"__system/submissionDate ge {bound} or __system/updatedAt ge {bound}"
        else:
            odata_filter = None

        def first() -> ODataPage:
            return client.odata_page(
                self.project_id, self.xml_form_id, filter=odata_filter, top=self.options.page_size, expand=True
            )

        for rows, next_link in self._pages(first, sweep.get("next")):
            newest = _latest(_changed_time(row) for row in rows)
            sweep = {**sweep, "next": next_link, "max": _latest([newest, sweep["max"]])}
            cursor = {**cursor, "window": sweep}
            self.commit([odk_record(row) for row in rows], cursor=cursor)
        self.commit(cursor={**cursor, "window": None, "changed": sweep["max"] or cursor.get("changed")})

    def deletions(self) -> None:
        """Deletions AND restores from the server's deleted list (`__system/deletedAt`, Central 2024.3+).

        The whole list is read each run (Central purges a deleted row 30 days after its deletion, so the list
        stays short, and no cursor can miss a row or resume past one). Every listed row is tombstoned with its
        `deletedAt`. A restore sets `deletedAt` back to null and leaves `updatedAt` alone, so no filter on a
        time can see it; it is found by difference instead: a row the store holds as deleted since less than
        the purge delay that the list no longer has was restored or purged, and the REST submission says which
        (a restored row is read again and is live; a purged one stays a tombstone).

        Central 2024.2 cannot filter on `deletedAt` (501.5) and ignores `?deleted=true`: an incremental run
        there sees neither deletions nor restores, and both wait for the reconciliation (`reconcile_every`,
        or `--full`), which lists every live row.
        """
        assert self.client is not None
        client = self.client
        if not client.supports_deleted_at(self.project_id, self.xml_form_id):
            return

        def first() -> ODataPage:
            return client.odata_page(
                self.project_id,
                self.xml_form_id,
                filter="__system/deletedAt ne null",
                top=self.options.page_size,
                expand=False,
                select="__id,__system",
            )

        listed: set[str] = set()
        for rows, _next in self._pages(first, None):
            gone = [
                (root_key(str(row["__id"])), read_server_time((row.get("__system") or {}).get("deletedAt")))
                for row in rows
            ]
            listed.update(root for root, _when in gone)
            self.commit(deleted=gone)
        with session_scope(self.engine) as session:
            restored = [pair for pair in _recent_tombstones(session, self.remote_form_id) if pair[0] not in listed]
        for start in range(0, len(restored), IN_CHUNK):
            found = [
                odk_record(row)
                for root, remote in restored[start : start + IN_CHUNK]
                if (row := self._lookup(root, remote)[1]) is not None
            ]
            if found:
                self.commit(found)

    def _lookup(self, _root: str, remote: str) -> tuple[bool, dict[str, Any] | None]:
        """Absence proven by the REST submission (any instance id), the row itself read through OData; both
        asked by the server's `__id`, never by the stored key (a digest of an over-long id is no id Central has)."""
        assert self.client is not None
        if not self.client.submission_exists(self.project_id, self.xml_form_id, remote):
            return False, None
        return True, self.client.get_submission(self.project_id, self.xml_form_id, remote)

    def reconcile(self) -> None:
        """All live ids on the server against the store; catches restores, and deletions on old servers."""
        assert self.client is not None
        client = self.client
        cursor = self.cursor()
        state = cursor.get("reconcile") or {"mark": self.run_id, "next": None}
        mark = int(state["mark"])

        def first() -> ODataPage:
            return client.odata_page(
                self.project_id, self.xml_form_id, top=self.options.page_size, expand=False, select="__id,__system"
            )

        for rows, next_link in self._pages(first, state.get("next")):
            keys = {str(row["__id"]): root_key(str(row["__id"])) for row in rows}  # found as stored (digest)
            with session_scope(self.engine) as session:
                stored = stored_state(session, self.remote_form_id, list(keys.values()))
                known = {root: (s.updated_at, s.review_state, s.deleted) for root, s in stored.items()}
            same, stale = [], []
            for row in rows:
                system = row.get("__system") or {}
                server = (read_server_time(system.get("updatedAt")), system.get("reviewState"), False)
                key = keys[str(row["__id"])]
                if known.get(key) == server:
                    same.append(key)
                else:
                    stale.append(str(row["__id"]))
            fresh = [
                odk_record(found)
                for remote in stale
                if (found := client.get_submission(self.project_id, self.xml_form_id, remote)) is not None
            ]
            state = {"mark": mark, "next": next_link}
            self.commit(fresh, cursor={**cursor, "reconcile": state}, seen=same, mark=mark, source="reconcile")
        self.confirm_deletions(mark, self._lookup, odk_record)
        self.commit(cursor={**self.cursor(), "reconcile": None}, form_updates={"last_reconciled_at": utcnow()})
