"""Every table of the product, imported in one place so Alembic and tests see the whole schema."""

import analysis.report.tables  # (registers the issued reports table)
import analysis.tables  # noqa: F401  (registers the analysis tables)
import catalogue.tables  # noqa: F401  (registers the catalogue tables)
import sera.tokens  # noqa: F401  (registers the token table)
import sync.tables  # noqa: F401  (registers the sync tables)
from catalogue.tables import metadata

__all__ = ["metadata"]
