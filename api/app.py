"""The FastAPI application factory: no engine or settings are made at import time."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.errors import add_error_handlers
from api.routers import catalogue, forms, health, quality, reports, submissions, sync, values
from sera.db import make_engine
from sera.settings import Settings, get_settings

API_PREFIX = "/api/v1"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API for the given settings (the environment's by default)."""
    settings = settings or get_settings()
    engine = make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FastAPI(
        title="SERA data backend",
        version="0.1.0",
        description="Indicator catalogue, forms, sync status, indicator values and reports of the PRIM 2 programme.",
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url=f"{API_PREFIX}/openapi.json",
    )
    app.state.settings = settings
    app.state.engine = engine
    add_error_handlers(app)
    app.include_router(health.router, prefix=API_PREFIX)
    app.include_router(catalogue.router, prefix=API_PREFIX)
    app.include_router(values.router, prefix=API_PREFIX)
    app.include_router(forms.router, prefix=API_PREFIX)
    app.include_router(submissions.router, prefix=API_PREFIX)
    app.include_router(sync.router, prefix=API_PREFIX)
    app.include_router(reports.router, prefix=API_PREFIX)
    app.include_router(quality.router, prefix=API_PREFIX)
    return app
