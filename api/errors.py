"""Errors as the API shows them: `{"error": CODE, "detail": TEXT}` with the right status, whatever went wrong."""

from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from catalogue.store import NoCatalogue
from sera.db import database_unavailable, error_details, safe_error_summary
from sera.logs import get_logger

log = get_logger("sera.api")


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: str
    detail: str


class ApiError(Exception):
    """An error a handler raises on purpose; its class says the status and code."""

    status_code = 400
    code = "bad_request"
    headers: ClassVar[dict[str, str] | None] = None

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(ApiError):
    status_code = 404
    code = "not_found"


DATABASE_UNAVAILABLE = "the database cannot be reached or is not answering; try again shortly"
RETRY_AFTER_SECONDS = "30"


def _body(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": code, "detail": detail}, headers=headers)


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        parts.append(f"{where}: {error.get('msg')}")
    return "; ".join(parts)


def add_error_handlers(app: FastAPI) -> None:
    """Map every exception to the one error shape; unexpected ones are logged and answered 500."""

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return _body(exc.status_code, exc.code, exc.detail, exc.headers)

    @app.exception_handler(NoCatalogue)
    async def _no_catalogue(_request: Request, exc: NoCatalogue) -> JSONResponse:
        return _body(503, "no_catalogue", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _body(422, "invalid_request", _validation_detail(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}
        return _body(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail), exc.headers)

    @app.exception_handler(sa_exc.SQLAlchemyError)
    async def _database(request: Request, exc: sa_exc.SQLAlchemyError) -> JSONResponse:
        if database_unavailable(exc):
            log.warning("database unavailable", extra={"path": request.url.path, "error": safe_error_summary(exc)})
            return _body(503, "database_unavailable", DATABASE_UNAVAILABLE, {"Retry-After": RETRY_AFTER_SECONDS})
        # SQL errors quote the rejected values (PostgreSQL `DETAIL`): the log gets the statement, not the message.
        log.error("unhandled database error", extra={"path": request.url.path, **error_details(exc)})
        return _body(500, "internal_error", f"unexpected {safe_error_summary(exc)}; the server log has the details")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return _body(500, "internal_error", f"unexpected {type(exc).__name__}; the server log has the details")


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "A body that is not valid JSON"},
    401: {"model": ErrorBody, "description": "Missing, unknown, revoked or expired token"},
    403: {"model": ErrorBody, "description": "The token's role may not do this"},
    404: {"model": ErrorBody, "description": "Not found"},
    422: {"model": ErrorBody, "description": "Invalid request"},
    503: {"model": ErrorBody, "description": "No catalogue loaded, or the database is unavailable"},
}
