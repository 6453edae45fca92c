"""Sync over HTTP: start runs, list them, see each form's state, and receive Kobo REST Service deliveries."""

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Body, Header, Query, Request
from pydantic import BaseModel

from analysis.freshness import refresh_after_sync
from api.auth import AdminDep, StaffDep
from api.deps import Limit, Offset, SessionDep, SettingsDep
from api.errors import ERROR_RESPONSES, ApiError, NotFound
from api.schemas import Page
from sync.hooks import HookRejected, receive_kobo_delivery
from sync.pull import PullOptions
from sync.service import sync_forms, targets
from sync.status import FormStatus, form_statuses, list_runs

router = APIRouter(tags=["sync"], responses=ERROR_RESPONSES)


class RunRequest(BaseModel):
    connection: str | None = None
    form: str | None = None
    full: bool = False


class RunOut(BaseModel):
    id: int
    connection: str
    form: str | None
    mode: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    pages: int
    rows_new: int
    rows_changed: int
    rows_unchanged: int
    rows_deleted: int
    retries: int
    error: str | None


class StartedOut(BaseModel):
    forms: list[dict[str, str]]
    """The (connection, form) pairs whose runs were started; follow them at GET /sync/runs."""


class HookOut(BaseModel):
    status: str


class _HookError(ApiError):
    def __init__(self, rejected: HookRejected) -> None:
        super().__init__(rejected.detail)
        self.status_code = rejected.status
        self.code = rejected.code


@router.post("/sync/runs", status_code=202, response_model=StartedOut)
def start_runs(
    request: Request,
    background: BackgroundTasks,
    settings: SettingsDep,
    _admin: AdminDep,
    body: Annotated[RunRequest | None, Body()] = None,
) -> StartedOut:
    """Start a pull of the chosen forms (all by default) in the background; 404 if nothing matches."""
    body = body or RunRequest()
    engine = request.app.state.engine
    chosen = targets(engine, connection=body.connection, form=body.form)
    if not chosen:
        raise NotFound("no deployed or linked form matches")
    background.add_task(sync_forms, engine, settings, chosen, options=PullOptions(full=body.full))
    background.add_task(refresh_after_sync, engine, settings)  # then the values the runs changed
    return StartedOut(forms=[{"connection": t.connection.name, "form": t.remote_form.form_id} for t in chosen])


@router.get("/sync/runs", response_model=Page[RunOut])
def get_runs(
    session: SessionDep,
    _staff: StaffDep,
    offset: Offset = 0,
    limit: Limit = 50,
    connection: Annotated[str | None, Query()] = None,
    form: Annotated[str | None, Query()] = None,
    status: Annotated[str | None, Query(description="running, success, failed or abandoned")] = None,
) -> Page[RunOut]:
    """Sync runs, newest first."""
    rows, total = list_runs(session, offset=offset, limit=limit, connection=connection, form=form, status=status)
    items = [
        RunOut(
            connection=name, form=form_id, **run.model_dump(exclude={"connection_id", "remote_form_id", "heartbeat_at"})
        )
        for run, name, form_id in rows
    ]
    return Page(items=items, total=total)


@router.get("/sync/status", response_model=Page[FormStatus])
def get_status(session: SessionDep, _staff: StaffDep) -> Page[FormStatus]:
    """Per form: last success, lag, live and deleted submission counts, last run and its error."""
    statuses = form_statuses(session)
    return Page(items=statuses, total=len(statuses))


@router.post("/hooks/kobo/{connection}", status_code=202, response_model=HookOut)
def kobo_hook(
    connection: str,
    request: Request,
    payload: Annotated[Any, Body()],
    background: BackgroundTasks,
    settings: SettingsDep,
    x_sera_hook_secret: Annotated[str | None, Header()] = None,
) -> HookOut:
    """A Kobo REST Service delivery (JSON submission), stored at once; duplicates are harmless."""
    try:
        status = receive_kobo_delivery(request.app.state.engine, connection, x_sera_hook_secret, payload)
    except HookRejected as rejected:
        raise _HookError(rejected) from None
    if status != "unchanged":
        background.add_task(refresh_after_sync, request.app.state.engine, settings)
    return HookOut(status=status)
