"""Liveness and readiness: is the database reachable, is a catalogue loaded."""

import datetime as dt

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.deps import SessionDep
from api.errors import DATABASE_UNAVAILABLE, RETRY_AFTER_SECONDS
from catalogue.store import latest_load

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    database: str
    programme: str | None = None
    catalogue_loaded_at: dt.datetime | None = None


class HealthUnavailable(Health):
    """A 503 that also has the API's error shape, so a client reading `error` sees the same as on any route."""

    error: str
    detail: str


@router.get("/health", response_model=Health, responses={503: {"model": HealthUnavailable}})
def health(session: SessionDep) -> Health | JSONResponse:
    """`ok` when the database answers and a catalogue is loaded; 503 otherwise, saying which."""
    try:
        session.exec(text("SELECT 1"))  # type: ignore[call-overload]
        load = latest_load(session)
    except SQLAlchemyError as error:
        body = HealthUnavailable(
            status="unavailable",
            database=f"error: {type(error).__name__}",
            error="database_unavailable",
            detail=DATABASE_UNAVAILABLE,
        )
        return JSONResponse(
            status_code=503, content=body.model_dump(mode="json"), headers={"Retry-After": RETRY_AFTER_SECONDS}
        )
    if load is None:
        body = Health(status="no_catalogue", database="ok")
        return JSONResponse(status_code=503, content=body.model_dump(mode="json"))
    return Health(status="ok", database="ok", programme=load.programme_code, catalogue_loaded_at=load.loaded_at)
