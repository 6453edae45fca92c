"""Running the Alembic chain from code, for `sera db upgrade` and for the tests."""

from pathlib import Path

from alembic import command
from alembic.config import Config

import migrations

SCRIPT_LOCATION = Path(migrations.__file__).parent


def alembic_config(database_url: str) -> Config:
    """The Alembic configuration for a database, independent of the working directory."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database schema to the given revision (the latest by default)."""
    command.upgrade(alembic_config(database_url), revision)


def check(database_url: str) -> None:
    """Fail if the tables in code differ from what the migrations create (`alembic check`)."""
    command.check(alembic_config(database_url))
