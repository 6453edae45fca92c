"""Database engine and sessions, for SQLite (embedded default) and PostgreSQL (production)."""

import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, exc
from sqlalchemy.engine import make_url
from sqlmodel import Session, create_engine

CONNECT_TIMEOUT_SECONDS = 10
"""How long a PostgreSQL connection attempt may take before it counts as "database unavailable"."""

_SQLITE_UNAVAILABLE = ("unable to open database file", "database is locked", "disk i/o error")
"""SQLite errors that mean the file cannot be used now, as opposed to a wrong statement."""


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for the URL; SQLite gets its folder created, foreign keys on and WAL for concurrent readers.

    Bound parameters never appear in error messages or logs (`hide_parameters`): they hold answers and names.
    """
    kwargs.setdefault("hide_parameters", True)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # No server-side prepared statements: psycopg prepares a query after 5 runs, and PostgreSQL may then keep a
    # generic plan made while a table was still empty (a first sync filling `submission`), turning each page's
    # index lookup into a sequential scan that grows with the table.
    connect_args: dict[str, Any] = {"prepare_threshold": None}
    if "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One unit of work: committed when the block ends, rolled back if it raises."""
    with Session(engine) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def database_unavailable(error: BaseException) -> bool:
    """True when the database cannot be reached or used right now (down, refusing, restarting, locked),
    as opposed to a statement that is wrong: the first is worth waiting for, the second is a bug."""
    if isinstance(error, exc.TimeoutError | exc.DisconnectionError):
        return True
    if not isinstance(error, exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    if not isinstance(error, exc.OperationalError | exc.InterfaceError):
        return False
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate is not None:
        # 08: connection exception; 57P: the server is shutting down or starting; 53: out of connections/resources.
        return str(sqlstate).startswith(("08", "57P", "53"))
    if type(error.orig).__module__.startswith("sqlite3"):
        return str(error.orig).lower().startswith(_SQLITE_UNAVAILABLE)
    return True


def safe_error_summary(error: BaseException) -> str:
    """What may be shown to staff about an unexpected error: its type and, for SQL errors, the driver's error
    class and SQLSTATE. Never the message: drivers quote the rejected values (PostgreSQL `DETAIL: Failing row
    contains (…)`, `invalid input syntax: "…"`), and those are answers and names."""
    name = type(error).__name__
    if isinstance(error, exc.DBAPIError) and error.orig is not None:
        driver = f"{type(error.orig).__module__}.{type(error.orig).__name__}"
        sqlstate = getattr(error.orig, "sqlstate", None)
        return f"{name} ({driver}{f', SQLSTATE {sqlstate}' if sqlstate else ''})"
    return name


def error_details(error: BaseException) -> dict[str, str]:
    """What the server log gets about an unexpected error, still without values: the summary, the SQL statement
    (its parameters are bound, so it names columns, not answers) and where it was raised."""
    details = {"error": safe_error_summary(error)}
    if isinstance(error, exc.StatementError) and error.statement:
        details["statement"] = " ".join(error.statement.split())[:500]
    details["where"] = "".join(traceback.format_tb(error.__traceback__)[-3:]).strip()
    return details
