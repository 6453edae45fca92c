"""Sync runs: each pull is recorded as it goes, so a crash leaves a trace and the next run can say so.

A run row is also the lock on its form: a partial unique index (`ux_sync_run_running_form`) allows one
`running` run per form, so inserting the run *is* the claim, on SQLite and PostgreSQL, across processes and
hosts. A second claimant gets `AlreadyRunning` naming the holder. A holder proves it is alive with a heartbeat
written by its own thread and connection, so a long page or reconciliation never looks abandoned; a run whose
process died (seen at once on this host, after `stale_after` without a heartbeat elsewhere) is taken over.
"""

import datetime as dt
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col, select, update

from catalogue.tables import utcnow
from sera.db import session_scope
from sera.logs import get_logger
from sync.store import PageCounts
from sync.tables import SyncRun

log = get_logger("sera.sync")


@dataclass(frozen=True)
class Liveness:
    """How a running run shows it is alive, and when silence means its process died."""

    stale_after: dt.timedelta = dt.timedelta(minutes=15)
    """A running run whose heartbeat is older than this died with its process."""
    beat_every: dt.timedelta = dt.timedelta(minutes=1)
    """How often a live run refreshes its heartbeat, whatever its pages do."""


DEFAULT_LIVENESS = Liveness()
STALE_AFTER = DEFAULT_LIVENESS.stale_after


class AlreadyRunning(Exception):
    """Another live run holds this form; `holder` is that run (detached), so callers can say which."""

    def __init__(self, holder: SyncRun) -> None:
        super().__init__(f"already running as run {holder.id} ({holder.worker}, since {holder.started_at:%H:%M:%S})")
        self.holder = holder


_held: set[int] = set()
_held_lock = threading.Lock()
"""Runs this process is working on now: any other `running` run of this process is left over from a pass that
lost its database mid-run, and is taken over at once."""


def this_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _dead_here(worker: str, run_id: int) -> bool:
    """A run of a process on this host that no longer exists, or of this process but no longer worked on."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        with _held_lock:
            return run_id not in _held
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@contextmanager
def holding_run(
    engine: Engine,
    connection_id: int,
    remote_form_id: int | None,
    mode: str,
    liveness: Liveness = DEFAULT_LIVENESS,
) -> Iterator[int]:
    """Claim the form with a new run, keep its heartbeat fresh while the block works, let it go at the end.

    Raises `AlreadyRunning` (nothing recorded) when another live run holds the form.
    """
    run_id = start_run(engine, connection_id, remote_form_id, mode, liveness)
    try:
        with Heartbeat(engine, run_id, liveness.beat_every):
            yield run_id
    finally:
        with _held_lock:
            _held.discard(run_id)


def start_run(
    engine: Engine,
    connection_id: int,
    remote_form_id: int | None,
    mode: str,
    liveness: Liveness = DEFAULT_LIVENESS,
) -> int:
    """Record a new run, committed at once so it is visible while it works; the insert is the form's lock.

    A unique violation whose holder finished in the meantime is tried again, a few times."""
    failure: IntegrityError | None = None
    for _attempt in range(3):
        with session_scope(engine) as session:
            abandon_stale_runs(session, liveness.stale_after)
        try:
            return _insert_run(engine, connection_id, remote_form_id, mode)
        except IntegrityError as error:
            failure = error
        with Session(engine) as session:
            holder = _holder(session, remote_form_id)
        if holder is not None:
            raise AlreadyRunning(holder) from None
    assert failure is not None
    raise failure


def _insert_run(engine: Engine, connection_id: int, remote_form_id: int | None, mode: str) -> int:
    """Insert a running run and mark it held by this process before anyone else can see it."""
    with Session(engine) as session:
        run = SyncRun(connection_id=connection_id, remote_form_id=remote_form_id, mode=mode, worker=this_worker())
        session.add(run)
        session.flush()
        assert run.id is not None
        run_id = run.id
        with _held_lock:
            _held.add(run_id)
        try:
            session.commit()
        except BaseException:
            with _held_lock:
                _held.discard(run_id)
            raise
    return run_id


def _holder(session: Session, remote_form_id: int | None) -> SyncRun | None:
    if remote_form_id is None:
        return None
    holder = session.exec(
        select(SyncRun).where(SyncRun.remote_form_id == remote_form_id, col(SyncRun.status) == "running")
    ).first()
    if holder is not None:
        session.expunge(holder)
    return holder


def abandon_stale_runs(session: Session, stale_after: dt.timedelta = STALE_AFTER) -> None:
    """Runs left `running` by a process that died are closed as `abandoned`: at once when it ran on this host,
    after `stale_after` without a heartbeat otherwise."""
    limit = utcnow() - stale_after
    running = session.exec(
        select(SyncRun.id, SyncRun.worker, SyncRun.heartbeat_at).where(col(SyncRun.status) == "running")
    ).all()
    dead = [run_id for run_id, worker, beat in running if beat < limit or _dead_here(worker, run_id)]
    if dead:
        session.execute(
            update(SyncRun)
            .where(col(SyncRun.id).in_(dead), col(SyncRun.status) == "running")
            .values(status="abandoned", finished_at=utcnow(), error="the process running this sync stopped")
        )


class Heartbeat:
    """Refreshes a run's heartbeat every `every` from its own thread and database connection, so the run looks
    alive however long one step takes (a slow page, a big reconciliation). Stopped when the block ends."""

    def __init__(self, engine: Engine, run_id: int, every: dt.timedelta) -> None:
        self.engine, self.run_id, self.every = engine, run_id, every.total_seconds()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"sync-run-{run_id}-heartbeat", daemon=True)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            try:
                with self.engine.begin() as connection:
                    connection.execute(
                        update(SyncRun)
                        .where(col(SyncRun.id) == self.run_id, col(SyncRun.status) == "running")
                        .values(heartbeat_at=utcnow())
                    )
            except SQLAlchemyError as error:
                log.warning("sync run heartbeat not written", extra={"run": self.run_id, "error": type(error).__name__})


def record_page(session: Session, run_id: int, counts: PageCounts) -> None:
    """Add a page's counts to its run, inside the page's own transaction."""
    session.execute(
        update(SyncRun)
        .where(col(SyncRun.id) == run_id)
        .values(
            pages=SyncRun.pages + 1,
            rows_new=SyncRun.rows_new + counts.new,
            rows_changed=SyncRun.rows_changed + counts.changed,
            rows_unchanged=SyncRun.rows_unchanged + counts.unchanged,
            rows_deleted=SyncRun.rows_deleted + counts.deleted,
            heartbeat_at=utcnow(),
        )
    )


def finish_run(engine: Engine, run_id: int, *, error: str | None, retries: int) -> SyncRun:
    """Close a run as success or failed, with the error a person can act on."""
    with session_scope(engine) as session:
        run = session.get(SyncRun, run_id)
        assert run is not None
        run.status = "failed" if error else "success"
        run.error = error
        run.retries = retries
        run.finished_at = utcnow()
        session.add(run)
        session.flush()
        session.refresh(run)
        session.expunge(run)
        return run


def holders(
    session: Session, remote_form_ids: list[int], stale_after: dt.timedelta = STALE_AFTER
) -> dict[int, SyncRun]:
    """The live run holding each of these forms, by form, detached (forms nobody holds are absent); stale runs
    are closed first, as a claim would."""
    abandon_stale_runs(session, stale_after)
    query = select(SyncRun).where(col(SyncRun.remote_form_id).in_(remote_form_ids), col(SyncRun.status) == "running")
    held = {run.remote_form_id: run for run in session.exec(query) if run.remote_form_id is not None}
    for run in held.values():
        session.expunge(run)
    return held
