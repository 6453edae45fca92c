"""Dependencies shared by the routers: settings, a database session per request, and bounded query parameters."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy import Engine
from sqlmodel import Session

from api.errors import NotFound
from catalogue.model import Programme
from catalogue.periods import quarters_between
from catalogue.store import NoCatalogue, current_rows
from catalogue.tables import ProgrammeVersion
from sera.settings import Settings

MAX_OFFSET = 2**31 - 1
"""List endpoints page through at most this many items: far beyond any store, and within every database's
integer range (an OFFSET of 2^63 or more overflows PostgreSQL's bigint and SQLite's integer)."""
QUARTER_PATTERN = r"^\d{4}Q[1-4]$"


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_engine(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    """One session per request; reads only here, so nothing to commit."""
    with Session(engine) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description=f"Items to skip (at most {MAX_OFFSET}).")]
Limit = Annotated[int, Query(ge=1, le=1000, description="Items to return (at most 1000).")]


def programme_quarter(
    session: SessionDep,
    period: Annotated[str, Query(pattern=QUARTER_PATTERN, description="The quarter, e.g. 2027Q2.")],
) -> str:
    """A quarter of the loaded programme; any other (1999Q1, 9999Q4) is 404, as for reports."""
    rows = current_rows(session, ProgrammeVersion)
    if not rows:
        raise NoCatalogue("no catalogue is loaded: run `sera catalogue load` first")
    programme = Programme.model_validate(rows[0].content)
    if period not in quarters_between(programme.first_period, programme.last_period):
        raise NotFound(
            f"{period} is not a quarter of {programme.code} ({programme.first_period} to {programme.last_period})"
        )
    return period


ProgrammeQuarter = Annotated[str, Depends(programme_quarter)]
"""The `period` query parameter of a quarter's figures (ITT, data quality)."""
