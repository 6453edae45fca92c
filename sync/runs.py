"""Sync runs: each pull is recorded as it goes, so a crash leaves a trace and the next run can say so."""

import datetime as dt
import os
import socket

from sqlalchemy import Engine
from sqlmodel import Session, col, select, update

from catalogue.tables import utcnow
from sera.db import session_scope
from sync.store import PageCounts
from sync.tables import SyncRun

STALE_AFTER = dt.timedelta(minutes=15)
"""A running run whose heartbeat is older than this died with its process."""


def this_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _dead_here(worker: str) -> bool:
    """A run of a process on this host that no longer exists."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def start_run(engine: Engine, connection_id: int, remote_form_id: int | None, mode: str) -> int:
    """Record a new run (committed at once, so it is visible while it works)."""
    with session_scope(engine) as session:
        abandon_stale_runs(session)
        run = SyncRun(connection_id=connection_id, remote_form_id=remote_form_id, mode=mode, worker=this_worker())
        session.add(run)
        session.flush()
        assert run.id is not None
        return run.id


def abandon_stale_runs(session: Session) -> None:
    """Runs left `running` by a process that died are closed as `abandoned`: at once when it ran on this host,
    after STALE_AFTER without a heartbeat otherwise."""
    limit = utcnow() - STALE_AFTER
    running = session.exec(
        select(SyncRun.id, SyncRun.worker, SyncRun.heartbeat_at).where(col(SyncRun.status) == "running")
    ).all()
    dead = [run_id for run_id, worker, beat in running if _dead_here(worker) or beat < limit]
    if dead:
        session.execute(
            update(SyncRun)
            .where(col(SyncRun.id).in_(dead))
            .values(status="abandoned", finished_at=utcnow(), error="the process running this sync stopped")
        )


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


def running_run(session: Session, remote_form_id: int) -> SyncRun | None:
    """A live run already pulling this form, if any (two writers on one form would only waste work)."""
    abandon_stale_runs(session)
    query = select(SyncRun).where(SyncRun.remote_form_id == remote_form_id, col(SyncRun.status) == "running")
    return session.exec(query).first()
