"""Sync over HTTP: start runs, list them, see each form's state, and receive Kobo REST Service deliveries."""

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Body, Header, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from analysis.freshness import refresh_after_sync
from api.auth import AdminDep, StaffDep
from api.deps import Limit, Offset, SessionDep, SettingsDep
from api.errors import ERROR_RESPONSES, ApiError, ErrorBody, NotFound
from api.schemas import Page
from sera.db import session_scope
from sync.hooks import HookRejected, authorize_delivery, parse_delivery, receive_kobo_delivery
from sync.pull import PullOptions
from sync.runs import holders
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


class HeldOut(BaseModel):
    connection: str
    form: str
    run: int
    """The run already pulling this form (GET /sync/runs); a second one is not started."""
    worker: str
    started_at: dt.datetime


class StartedOut(BaseModel):
    forms: list[dict[str, str]]
    """The (connection, form) pairs whose runs were started; follow them at GET /sync/runs."""
    already_running: list[HeldOut] = []


class HookOut(BaseModel):
    status: str
    """`new`, `changed`, `unchanged`, or `stale`: the store holds a newer version, or the submission was deleted."""


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
    with session_scope(engine) as session:
        held = holders(session, [t.remote_form.id for t in chosen if t.remote_form.id is not None])
    pairs = [(t, held.get(t.remote_form.id or 0)) for t in chosen]
    free = [t for t, run in pairs if run is None]
    busy = [(t, run) for t, run in pairs if run is not None]
    background.add_task(sync_forms, engine, settings, free, options=PullOptions(full=body.full))
    background.add_task(refresh_after_sync, engine, settings)  # then the values the runs changed
    return StartedOut(
        forms=[{"connection": t.connection.name, "form": t.remote_form.form_id} for t in free],
        already_running=[
            HeldOut(
                connection=t.connection.name,
                form=t.remote_form.form_id,
                run=run.id or 0,
                worker=run.worker,
                started_at=run.started_at,
            )
            for t, run in busy
        ],
    )


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


async def _capped_body(request: Request, limit: int) -> bytes:
    """The body, read as it streams in and refused (413) as soon as it is over `limit` bytes, or announced so."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HookRejected(413, "payload_too_large", f"a delivery is at most {limit} bytes; this one is {declared}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HookRejected(413, "payload_too_large", f"a delivery is at most {limit} bytes")
    return bytes(body)


_DELIVERY_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object", "description": "One Kobo submission."}}},
    }
}


@router.post(
    "/hooks/kobo/{connection}",
    status_code=202,
    response_model=HookOut,
    responses={
        400: {"model": ErrorBody, "description": "Not one submission as a JSON object"},
        413: {"model": ErrorBody, "description": "Larger than the hook_max_bytes setting"},
    },
    openapi_extra=_DELIVERY_BODY,
)
async def kobo_hook(
    connection: str,
    request: Request,
    background: BackgroundTasks,
    settings: SettingsDep,
    x_sera_hook_secret: Annotated[str | None, Header()] = None,
) -> HookOut:
    """A Kobo REST Service delivery (JSON submission), stored at once; duplicates and replays are harmless.

    The connection and its secret are checked before a byte of the body is read, the body is capped at the
    `hook_max_bytes` setting while it streams in, and parsing and storing run off the event loop.
    """
    engine = request.app.state.engine
    try:
        await run_in_threadpool(authorize_delivery, engine, connection, x_sera_hook_secret)
        body = await _capped_body(request, settings.hook_max_bytes)
        payload = await run_in_threadpool(parse_delivery, body)
        status = await run_in_threadpool(receive_kobo_delivery, engine, connection, x_sera_hook_secret, payload)
    except HookRejected as rejected:
        raise _HookError(rejected) from None
    if status not in ("unchanged", "stale"):
        background.add_task(refresh_after_sync, engine, settings)
    return HookOut(status=status)
