"""Read-side views of the sync layer: runs, and each form's state (last success, lag, counts, last error)."""

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select

from catalogue.tables import utcnow
from sync.tables import Connection, RemoteForm, Submission, SyncRun


def list_runs(
    session: Session,
    *,
    offset: int,
    limit: int,
    connection: str | None = None,
    form: str | None = None,
    status: str | None = None,
) -> tuple[list[tuple[SyncRun, str, str | None]], int]:
    """Runs newest first, with their connection name and form id."""
    query = (
        select(SyncRun, Connection.name, RemoteForm.form_id)
        .join(Connection, col(Connection.id) == SyncRun.connection_id)
        .join(RemoteForm, col(RemoteForm.id) == SyncRun.remote_form_id, isouter=True)
    )
    if connection is not None:
        query = query.where(Connection.name == connection)
    if form is not None:
        query = query.where(RemoteForm.form_id == form)
    if status is not None:
        query = query.where(SyncRun.status == status)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.order_by(col(SyncRun.id).desc()).offset(offset).limit(limit)).all()
    return [(run, name, form_id) for run, name, form_id in rows], int(total)


@dataclass(frozen=True)
class FormStatus:
    connection: str
    platform: str
    form_id: str
    remote_id: str
    deployed_version: str | None
    last_success_at: dt.datetime | None
    lag_seconds: float | None
    submissions: int
    deleted: int
    last_run_status: str | None
    last_run_at: dt.datetime | None
    last_error: str | None


def form_statuses(session: Session) -> list[FormStatus]:
    """One line per deployed or linked form; lag is the time since its last successful pull."""
    counts = dict(
        session.exec(
            select(Submission.remote_form_id, func.count())
            .where(col(Submission.deleted).is_(False))
            .group_by(col(Submission.remote_form_id))
        ).all()
    )
    deleted = dict(
        session.exec(
            select(Submission.remote_form_id, func.count())
            .where(col(Submission.deleted).is_(True))
            .group_by(col(Submission.remote_form_id))
        ).all()
    )
    now = utcnow()
    statuses = []
    query = select(Connection, RemoteForm).join(RemoteForm, col(RemoteForm.connection_id) == Connection.id)
    for connection, remote in session.exec(query.order_by(col(Connection.name), col(RemoteForm.form_id))).all():
        last = session.exec(
            select(SyncRun).where(SyncRun.remote_form_id == remote.id).order_by(col(SyncRun.id).desc()).limit(1)
        ).first()
        success = remote.last_success_at
        statuses.append(
            FormStatus(
                connection=connection.name,
                platform=connection.platform,
                form_id=remote.form_id,
                remote_id=remote.remote_id,
                deployed_version=remote.deployed_version,
                last_success_at=success,
                lag_seconds=(now - success).total_seconds() if success else None,
                submissions=int(counts.get(remote.id, 0)),
                deleted=int(deleted.get(remote.id, 0)),
                last_run_status=last.status if last else None,
                last_run_at=last.started_at if last else None,
                last_error=last.error if last else None,
            )
        )
    return statuses
