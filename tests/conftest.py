"""Shared fixtures: every database test runs on SQLite and on PostgreSQL, through the real migrations."""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from catalogue.model import Catalogue
from catalogue.validation import read_catalogue
from sera.db import make_engine
from sera.migrate import upgrade
from sera.schema import metadata
from sera.settings import Settings

pytest_plugins = ["tests.worlds"]
"""Fake-server worlds (Kobo, ODK Central) with a linked form in the test database."""

CASES = Path(__file__).parent / "catalogue" / "cases"
POSTGRES_ADMIN_URL = os.environ.get("SERA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = [b.strip() for b in os.environ.get("SERA_TEST_BACKENDS", "sqlite,postgresql").split(",") if b.strip()]


@pytest.fixture(autouse=True)
def _hermetic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No developer setting leaks into a test; tests that need one set it themselves."""
    for name in list(os.environ):
        if name.startswith("SERA_") and not name.startswith("SERA_TEST_"):
            monkeypatch.delenv(name)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@contextmanager
def throwaway_postgres(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database named after `prefix`, dropped when the block ends."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = make_url(POSTGRES_ADMIN_URL)
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL database for this run, dropped at the end."""
    with throwaway_postgres("sera_test") as url:
        yield url


@pytest.fixture(scope="session")
def migrated_urls(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> dict[str, str]:
    """One migrated database per backend for the whole run."""
    urls: dict[str, str] = {}
    if "sqlite" in BACKENDS:
        urls["sqlite"] = f"sqlite:///{tmp_path_factory.mktemp('db') / 'sera.db'}"
    if "postgresql" in BACKENDS:
        urls["postgresql"] = request.getfixturevalue("postgres_url")
    for url in urls.values():
        upgrade(url)
    return urls


def _empty_tables(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(text(f'DELETE FROM "{table.name}"'))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, migrated_urls: dict[str, str]) -> Iterator[str]:
    """A migrated, empty database; each test using it runs once per backend."""
    url = migrated_urls[request.param]
    engine = make_engine(url)
    _empty_tables(engine)
    yield url
    _empty_tables(engine)
    engine.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        yield session


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(_env_file=None, database_url=database_url)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def minimal_catalogue() -> Catalogue:
    return read_catalogue(CASES / "minimal.yaml")
