"""With the database unreachable, every route answers 503 in the error shape, never a 500 (item 22 of issue 9)."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from sera.settings import Settings

TOKEN = {"Authorization": "Bearer sera_unknown-token-the-database-would-check"}


@pytest.fixture(params=["postgresql", "sqlite"])
def dead_client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    """The API over a database that is not there: PostgreSQL on a closed port, SQLite on a path it cannot open."""
    url = {
        "postgresql": "postgresql+psycopg://postgres@127.0.0.1:1/sera",
        "sqlite": f"sqlite:///{tmp_path}",  # a folder: SQLite cannot open it as a database file
    }[request.param]
    app = create_app(Settings(_env_file=None, database_url=url))  # type: ignore[call-arg]
    with TestClient(app) as client:
        client.app_paths = app.openapi()["paths"]  # type: ignore[attr-defined]
        yield client


def _database_routes(client: TestClient) -> list[tuple[str, str]]:
    """Every operation the API documents, path parameters filled in."""
    paths: dict[str, dict[str, object]] = client.app_paths  # type: ignore[attr-defined]
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", "x", path))
        for path, operations in paths.items()
        for method in operations
        if not path.endswith("/health")
    ]


def test_every_route_answers_503_database_unavailable(dead_client: TestClient) -> None:
    routes = _database_routes(dead_client)
    assert len(routes) > 15
    for method, path in routes:
        response = dead_client.request(method, path, headers=TOKEN, json={})
        assert response.status_code == 503, (method, path, response.text)
        body = response.json()
        assert body["error"] == "database_unavailable", (method, path, body)
        assert set(body) == {"error", "detail"}
        assert "try again" in body["detail"]
        assert "127.0.0.1" not in body["detail"]
        assert response.headers["Retry-After"] == "30"


def test_health_answers_503_in_both_shapes(dead_client: TestClient) -> None:
    response = dead_client.get("/api/v1/health")
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["error"]) == ("unavailable", "database_unavailable")
    assert body["detail"]
