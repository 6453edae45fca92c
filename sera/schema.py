"""Every table of the product, imported in one place so Alembic and tests see the whole schema."""

import catalogue.tables  # noqa: F401  (registers the catalogue tables)
from catalogue.tables import metadata

__all__ = ["metadata"]
