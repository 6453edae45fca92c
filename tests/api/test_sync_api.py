"""Sync over HTTP: start a run, follow it, see each form's state, and receive Kobo webhook deliveries."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api.app import create_app
from sera.db import session_scope
from sera.tokens import create_token
from sync.connections import get_connection, set_hook_secret
from sync.tables import Submission
from tests.worlds import KoboWorld, add_people


@pytest.fixture
def api(kobo_world: KoboWorld) -> Iterator[TestClient]:
    with TestClient(create_app(kobo_world.settings)) as client:
        yield client


@pytest.fixture
def admin(session: Session) -> dict[str, str]:
    _row, token = create_token(session, "admin")
    session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_start_a_run_then_read_runs_and_status(api: TestClient, admin: dict[str, str], kobo_world: KoboWorld) -> None:
    add_people(kobo_world.fake, kobo_world.asset, 42)
    started = api.post("/api/v1/sync/runs", json={"full": True}, headers=admin)
    assert started.status_code == 202
    assert started.json() == {"forms": [{"connection": "kobo", "form": "attendance"}], "already_running": []}
    runs = api.get("/api/v1/sync/runs", headers=admin).json()
    assert runs["total"] == 1
    run = runs["items"][0]
    assert (run["connection"], run["form"], run["mode"], run["status"], run["rows_new"]) == (
        "kobo",
        "attendance",
        "full",
        "success",
        42,
    )
    status = api.get("/api/v1/sync/status", headers=admin).json()["items"][0]
    assert (status["form_id"], status["submissions"], status["deleted"], status["last_run_status"]) == (
        "attendance",
        42,
        0,
        "success",
    )
    assert status["lag_seconds"] is not None and status["lag_seconds"] >= 0
    assert api.get("/api/v1/sync/runs", params={"status": "failed"}, headers=admin).json()["total"] == 0


def test_a_failed_run_shows_its_error_in_status(api: TestClient, admin: dict[str, str], kobo_world: KoboWorld) -> None:
    kobo_world.fake.revoke_token(kobo_world.fake.token)
    api.post("/api/v1/sync/runs", json={}, headers=admin)
    status = api.get("/api/v1/sync/status", headers=admin).json()["items"][0]
    assert status["last_run_status"] == "failed"
    assert "credentials refused" in status["last_error"]


def test_kobo_hook_stores_at_once_and_duplicates_are_harmless(
    api: TestClient, kobo_world: KoboWorld, session: Session
) -> None:
    with session_scope(kobo_world.engine) as s:
        set_hook_secret(get_connection(s, "kobo"), "s3cret")
    [row] = add_people(kobo_world.fake, kobo_world.asset, 1)
    url = "/api/v1/hooks/kobo/kobo"
    assert api.post(url, json=row).status_code == 401
    assert api.post(url, json=row, headers={"X-Sera-Hook-Secret": "nope"}).json()["error"] == "unauthorized"
    first = api.post(url, json=row, headers={"X-Sera-Hook-Secret": "s3cret"})
    assert (first.status_code, first.json()) == (202, {"status": "new"})
    assert api.post(url, json=row, headers={"X-Sera-Hook-Secret": "s3cret"}).json() == {"status": "unchanged"}
    stored = session.exec(select(Submission)).one()
    assert (stored.source, stored.root_id) == ("hook", row["meta/rootUuid"])
    stray = {**row, "_xform_id_string": "aUnknown"}
    assert api.post(url, json=stray, headers={"X-Sera-Hook-Secret": "s3cret"}).status_code == 404
    assert api.post(url, json=[row], headers={"X-Sera-Hook-Secret": "s3cret"}).json()["error"] == "bad_payload"
    kobo_world.sync()
    kobo_world.assert_store_equals_server()


def test_a_webhook_replay_never_moves_data_backwards(api: TestClient, kobo_world: KoboWorld, session: Session) -> None:
    """Deliver v1, edit it on the server (v2, read by a sync), deliver v1 again: v2 stays. Delete it, replay v1:
    it stays deleted."""
    with session_scope(kobo_world.engine) as s:
        set_hook_secret(get_connection(s, "kobo"), "s3cret")
    secret = {"X-Sera-Hook-Secret": "s3cret"}
    [v1, _other] = add_people(kobo_world.fake, kobo_world.asset, 2)
    url = "/api/v1/hooks/kobo/kobo"
    assert api.post(url, json=v1, headers=secret).json() == {"status": "new"}
    v2 = kobo_world.fake.edit_submission(kobo_world.asset, v1["_id"], {"age": "77"})
    kobo_world.sync()
    assert api.post(url, json=v1, headers=secret).json() == {"status": "stale"}
    kobo_world.assert_store_equals_server()
    assert api.post(url, json=v2, headers=secret).json() == {"status": "unchanged"}
    kobo_world.fake.delete_submission(kobo_world.asset, v1["_id"])
    kobo_world.sync(full=True)
    for replay in (v1, v2):
        assert api.post(url, json=replay, headers=secret).json() == {"status": "stale"}
    kobo_world.assert_store_equals_server()
    deleted = session.exec(select(Submission).where(Submission.root_id == v1["meta/rootUuid"])).one()
    assert (deleted.deleted, deleted.instance_id) == (True, v2["meta/instanceID"])
