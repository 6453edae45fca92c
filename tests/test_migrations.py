"""The migration chain creates exactly the tables the code declares (`alembic check`), on both databases."""

from sera.migrate import check


def test_migrations_match_the_models(database_url: str) -> None:
    check(database_url)
