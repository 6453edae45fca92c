"""The migration that unbounds the submission's text columns keeps every stored row and fills `deprecated_id`
from the stored JSON (Kobo's flat `meta/deprecatedID`, ODK's nested `meta.deprecatedID`), on both databases."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from sera.db import make_engine
from sera.migrate import alembic_config, upgrade
from tests.conftest import BACKENDS, throwaway_postgres

REVISION = "001553d22bc5"


@pytest.fixture(params=BACKENDS)
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each backend, migrated by the test itself."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    with throwaway_postgres("sera_migration") as url:
        yield url


def test_existing_rows_get_their_deprecated_id(fresh_url: str) -> None:
    before = ScriptDirectory.from_config(alembic_config(fresh_url)).get_revision(REVISION).down_revision
    assert isinstance(before, str)
    upgrade(fresh_url, before)
    rows = {
        "kobo-edit": {"_id": 1, "meta/instanceID": "uuid:a2", "meta/deprecatedID": "uuid:a1"},
        "odk-edit": {"__id": "uuid:o1", "meta": {"instanceID": "uuid:o2", "deprecatedID": "uuid:o1"}},
        "first": {"_id": 2, "meta/instanceID": "uuid:b1"},
        "array": [1, 2],
    }
    engine = make_engine(fresh_url)
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO connection (id, name, platform, url, created_at) VALUES (1, 'k', 'kobo', 'u', :now)"),
            {"now": "2026-12-01 00:00:00"},
        )
        connection.execute(
            text(
                "INSERT INTO remote_form (id, connection_id, form_id, remote_id, remote_state, cursor) "
                "VALUES (1, 1, 'attendance', 'aAsset', '{}', '{}')"
            )
        )
        for root, data in rows.items():
            connection.execute(
                text(
                    "INSERT INTO submission (remote_form_id, remote_id, root_id, content_hash, data, deleted, "
                    "first_seen_at, changed_at, source) VALUES (1, :root, :root, 'h', :data, false, :now, :now, 'poll')"
                ),
                {"root": root, "data": json.dumps(data), "now": "2026-12-01 00:00:00"},
            )
    engine.dispose()
    upgrade(fresh_url)
    engine = make_engine(fresh_url)
    with engine.connect() as connection:
        found = dict(connection.execute(text("SELECT root_id, deprecated_id FROM submission")).all())
        connection.execute(text("UPDATE submission SET device_start = :long"), {"long": "x" * 1000})
    engine.dispose()
    assert found == {"kobo-edit": "uuid:a1", "odk-edit": "uuid:o1", "first": None, "array": None}
