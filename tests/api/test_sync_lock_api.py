"""POST /sync/runs says which run already holds a form instead of starting a second one (item 5 of issue 9)."""

from fastapi.testclient import TestClient
from sqlmodel import Session

from api.app import create_app
from catalogue.tables import utcnow
from sera.db import session_scope
from sera.tokens import create_token
from sync.service import targets
from sync.tables import SyncRun
from tests.worlds import KoboWorld, add_people, runs


def test_starting_a_held_form_names_the_holder_and_starts_nothing(kobo_world: KoboWorld, session: Session) -> None:
    add_people(kobo_world.fake, kobo_world.asset, 3)
    [target] = targets(kobo_world.engine)
    with session_scope(kobo_world.engine) as s:
        holder = SyncRun(
            connection_id=target.connection.id,
            remote_form_id=target.remote_form.id,
            mode="full",
            worker="elsewhere:4242",
            heartbeat_at=utcnow(),
        )
        s.add(holder)
        s.flush()
        holder_id = holder.id
    _row, token = create_token(session, "admin")
    session.commit()
    with TestClient(create_app(kobo_world.settings)) as client:
        answer = client.post("/api/v1/sync/runs", json={}, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 202
    body = answer.json()
    assert body["forms"] == []
    [held] = body["already_running"]
    assert (held["connection"], held["form"], held["run"], held["worker"]) == (
        "kobo",
        "attendance",
        holder_id,
        "elsewhere:4242",
    )
    assert [(run.id, run.status) for run in runs(session)] == [(holder_id, "running")]
