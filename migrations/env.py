"""Alembic environment: the URL comes from the configuration `sera` builds, or from the settings."""

from typing import Any, Literal

from alembic import context
from sqlalchemy import Connection

from catalogue.tables import UtcDateTime
from sera.db import make_engine
from sera.schema import metadata
from sera.settings import get_settings

config = context.config


def render_item(kind: str, value: Any, autogen_context: Any) -> str | Literal[False]:
    """Migrations spell UtcDateTime as the plain column it is stored as, so they never import product code."""
    if kind == "type" and isinstance(value, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        render_item=render_item,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
    context.configure(url=url, target_metadata=metadata, literal_binds=True, compare_type=True, render_item=render_item)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            _configure(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
