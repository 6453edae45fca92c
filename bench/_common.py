"""What the benchmarks share: a throwaway database per backend, created before a run and dropped after it."""

import os
import uuid
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

POSTGRES_ADMIN = os.environ.get("SERA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _admin_conninfo() -> str:
    return make_url(POSTGRES_ADMIN).set(drivername="postgresql").render_as_string(hide_password=False)


def create_database(backend: str, workdir: Path) -> tuple[str, str | None]:
    """A new empty database: (its SQLAlchemy URL, its PostgreSQL name or None for a SQLite file in `workdir`)."""
    if backend == "sqlite":
        return f"sqlite:///{workdir / 'bench.db'}", None
    name = f"sera_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_admin_conninfo(), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_ADMIN).set(drivername="postgresql+psycopg", database=name)
    return url.render_as_string(hide_password=False), name


def drop_database(name: str) -> None:
    with psycopg.connect(_admin_conninfo(), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
