"""Sync runs: each pull is recorded as it goes, so a crash leaves a trace and the next run can say so."""

import datetime as dt

from sqlalchemy import Engine
from sqlmodel import Session, col, select, update

from catalogue.tables import utcnow
from sera.db import session_scope
from sync.store import PageCounts
from sync.tables import SyncRun

STALE_AFTER = dt.timedelta(minutes=15)
"""A running run whose heartbeat is older than this died with its process."""


def start_run(engine: Engine, connection_id: int, remote_form_id: int | None, mode: str) -> int:
    """Record a new run (committed at once, so it is visible while it works)."""
    with session_scope(engine) as session:
        abandon_stale_runs(session)
        run = SyncRun(connection_id=connection_id, remote_form_id=remote_form_id, mode=mode)
        session.add(run)
        session.flush()
        assert run.id is not None
        return run.id


def abandon_stale_runs(session: Session) -> None:
    """Runs left `running` by a process that died are closed as `abandoned`."""
    limit = utcnow() - STALE_AFTER
    session.execute(
        update(SyncRun)
        .where(col(SyncRun.status) == "running", col(SyncRun.heartbeat_at) < limit)
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
