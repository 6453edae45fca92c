"""Running syncs: pick the forms, open a client per connection, pull each form, record how each run ended."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlmodel import col, select

from catalogue.tables import utcnow
from sera.db import error_details, safe_error_summary, session_scope
from sera.logs import get_logger
from sera.settings import Settings
from sync.connections import DEMO_PLATFORM, ConnectionProblem, resolve_secret
from sync.http import RemoteError
from sync.pull import KoboPull, OdkPull, PullOptions
from sync.runs import DEFAULT_LIVENESS, AlreadyRunning, Liveness, finish_run, holding_run
from sync.store import PageCounts
from sync.tables import Connection, RemoteForm, SyncRun

log = get_logger("sera.sync")

DEFAULT_OPTIONS = PullOptions()
ClientFactory = Callable[[Connection, str], Any]
"""Builds a platform client for a connection and its secret; tests pass one with a no-op sleep."""


def default_client(connection: Connection, secret: str) -> Any:
    """The production client of the connection's platform."""
    if connection.platform == "kobo":
        from sync.kobo.client import KoboClient

        return KoboClient(connection.url, secret)
    from sync.odk.client import CentralClient

    assert connection.email is not None
    return CentralClient(connection.url, connection.email, secret)


@dataclass(frozen=True)
class Target:
    connection: Connection
    remote_form: RemoteForm


def targets(engine: Engine, *, connection: str | None = None, form: str | None = None) -> list[Target]:
    """The deployed or linked forms a sync covers, in a stable order; demo data (`sera demo`) has nothing to pull."""
    with session_scope(engine) as session:
        query = (
            select(Connection, RemoteForm)
            .join(RemoteForm, col(RemoteForm.connection_id) == Connection.id)
            .where(Connection.platform != DEMO_PLATFORM)
        )
        if connection is not None:
            query = query.where(Connection.name == connection)
        if form is not None:
            query = query.where(RemoteForm.form_id == form)
        rows = session.exec(query.order_by(col(Connection.name), col(RemoteForm.form_id))).all()
        # One Connection row comes back once per form it carries: detach every object once, all together.
        session.expunge_all()
        return [Target(conn, remote) for conn, remote in rows]


def sync_forms(
    engine: Engine,
    settings: Settings,
    chosen: Sequence[Target],
    *,
    options: PullOptions = DEFAULT_OPTIONS,
    client_factory: ClientFactory = default_client,
    on_page: Callable[[Target, PageCounts], None] | None = None,
    liveness: Liveness = DEFAULT_LIVENESS,
) -> list[SyncRun]:
    """Pull each form once; a failure fails that form's run and the others go on.

    One run per form, in order. A form another live run holds is not pulled: its entry is that other run, still
    `running` (a run this call made has always ended by the time it returns)."""
    clients: dict[int, Any] = {}
    try:
        return [
            _sync_one(engine, settings, target, options, client_factory, clients, on_page, liveness)
            for target in chosen
        ]
    finally:
        for client in clients.values():
            client.close()


def _sync_one(
    engine: Engine,
    settings: Settings,
    target: Target,
    options: PullOptions,
    client_factory: ClientFactory,
    clients: dict[int, Any],
    on_page: Callable[[Target, PageCounts], None] | None,
    liveness: Liveness,
) -> SyncRun:
    connection, remote = target.connection, target.remote_form
    assert connection.id is not None and remote.id is not None
    mode = "full" if options.full else "incremental"
    try:
        with holding_run(engine, connection.id, remote.id, mode, liveness) as run_id:
            error, client = _pull(engine, settings, target, run_id, options, client_factory, clients, on_page)
            retries = int(getattr(client, "retries", 0)) if client is not None else 0
            run = finish_run(engine, run_id, error=error, retries=retries)
    except AlreadyRunning as busy:
        log.warning("already running", extra={"form": remote.form_id, "run": busy.holder.id})
        return busy.holder
    level = log.error if error else log.info
    level(
        "sync run finished",
        extra={
            "form": remote.form_id,
            "connection": connection.name,
            "status": run.status,
            "new": run.rows_new,
            "changed": run.rows_changed,
            "deleted": run.rows_deleted,
        },
    )
    return run


def _pull(
    engine: Engine,
    settings: Settings,
    target: Target,
    run_id: int,
    options: PullOptions,
    client_factory: ClientFactory,
    clients: dict[int, Any],
    on_page: Callable[[Target, PageCounts], None] | None,
) -> tuple[str | None, Any]:
    """Pull one form under its run; returns the error to record (None on success) and the client used.

    An unexpected error is recorded as its type only: its message may quote submission data (SQL errors carry
    the rejected row), and staff who may not read submissions read runs. The log gets the details, still
    without values."""
    connection, remote = target.connection, target.remote_form
    assert connection.id is not None and remote.id is not None
    client = None
    try:
        if connection.id not in clients:
            clients[connection.id] = client_factory(
                connection, resolve_secret(connection, settings.secret_key.get_secret_value())
            )
        client = clients[connection.id]
        callback = (lambda counts: on_page(target, counts)) if on_page else (lambda _counts: None)
        if connection.platform == "kobo":
            KoboPull(engine, remote.id, run_id, options, callback, client=client, asset_uid=remote.remote_id).run()
        else:
            assert connection.project_id is not None
            OdkPull(
                engine,
                remote.id,
                run_id,
                options,
                callback,
                client=client,
                project_id=connection.project_id,
                xml_form_id=remote.remote_id,
            ).run()
        with session_scope(engine) as session:
            stored = session.get(RemoteForm, remote.id)
            assert stored is not None
            stored.last_success_at = utcnow()
            session.add(stored)
    except (RemoteError, ConnectionProblem) as failure:
        return str(failure), client
    except Exception as failure:
        log.error(
            "sync crashed",
            extra={"form": remote.form_id, "connection": connection.name, "run": run_id, **error_details(failure)},
        )
        return f"unexpected {safe_error_summary(failure)}; the server log has the details", client
    return None, client
