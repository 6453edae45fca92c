"""Values follow every sync without being asked, and every figure served says when it was computed, from which sync.

Submissions come from the Kobo fake over HTTP, through `sera sync` (the CLI, in process), `POST /sync/runs` and
the webhook; nobody runs `sera indicators compute`.
"""

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from analysis.tables import IndicatorValue
from api.app import create_app
from catalogue.store import load_catalogue
from catalogue.validation import read_catalogue
from sera.cli import app
from sera.db import session_scope
from sera.settings import DEFAULT_CATALOGUE, get_settings
from sera.tokens import create_token
from sync.connections import get_connection, set_hook_secret
from sync.tables import SyncRun
from tests.worlds import KoboWorld, add_people

CONTACTS = "R1.3-2"
"""PRIM 2's contacts: a count of attendance sheets with consent, split by quarter of the activity date."""


def attend(world: KoboWorld, count: int) -> list[dict[str, Any]]:
    """Attendance sheets with consent, on the server, dated in 2026Q2 (Kobo names answers by group path)."""
    return add_people(world.fake, world.asset, count, consent="yes", **{"activity/activity_date": "2026-05-04"})


def contacts(session: Session, period: str = "2026Q2") -> float | None:
    session.expire_all()
    query = select(IndicatorValue.value).where(
        col(IndicatorValue.indicator) == CONTACTS, col(IndicatorValue.period) == period, IndicatorValue.dims_key == ""
    )
    return session.exec(query).first()


@pytest.fixture
def prim2(kobo_world: KoboWorld) -> KoboWorld:
    with session_scope(kobo_world.engine) as session:
        load_catalogue(session, read_catalogue(DEFAULT_CATALOGUE), source="test")
    return kobo_world


def test_sera_sync_recomputes_the_values_it_changed(
    prim2: KoboWorld, database_url: str, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERA_DATABASE_URL", database_url)
    monkeypatch.setenv("SERA_PERSON_KEY_SECRET", "test-secret")

    def sera(*args: str) -> Any:
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(app, list(args))
        finally:
            get_settings.cache_clear()

    attend(prim2, 3)
    first = sera("sync")
    assert first.exit_code == 0, first.output
    assert "indicator values: full" in first.stdout
    assert contacts(session) == 3
    attend(prim2, 2)
    second = sera("sync")
    assert "indicator values: incremental" in second.stdout
    assert contacts(session) == 5
    nothing = sera("sync")
    assert nothing.exit_code == 0 and "indicator values" not in nothing.stdout
    assert contacts(session) == 5


@pytest.fixture
def api(prim2: KoboWorld) -> Iterator[TestClient]:
    with TestClient(create_app(prim2.settings)) as client:
        yield client


@pytest.fixture
def admin(session: Session) -> dict[str, str]:
    _row, token = create_token(session, "admin")
    session.commit()
    return {"Authorization": f"Bearer {token}"}


def _served(api: TestClient, admin: dict[str, str]) -> tuple[float | None, dict[str, Any]]:
    """The total of contacts in 2026Q2 as the API serves it, and its `as_of`."""
    page = api.get(
        f"/api/v1/indicators/{CONTACTS}/values", params={"from": "2026Q2", "to": "2026Q2", "lop": False}, headers=admin
    ).json()
    [total] = [item for item in page["items"] if not item["dims"]]
    return total["value"], page["as_of"]


def test_api_sync_and_webhook_recompute_and_say_when(
    prim2: KoboWorld, api: TestClient, admin: dict[str, str], session: Session
) -> None:
    attend(prim2, 4)
    assert api.post("/api/v1/sync/runs", json={}, headers=admin).status_code == 202
    [run] = session.exec(select(SyncRun)).all()
    value, fresh = _served(api, admin)
    assert value == 4
    assert (fresh["sync_run"], fresh["pending"], fresh["mode"]) == (run.id, False, "full")
    assert fresh["computed_at"] >= fresh["synced_at"]

    with session_scope(prim2.engine) as s:
        set_hook_secret(get_connection(s, "kobo"), "s3cret")
    [row] = attend(prim2, 1)
    delivered = api.post("/api/v1/hooks/kobo/kobo", json=row, headers={"X-Sera-Hook-Secret": "s3cret"})
    assert delivered.json() == {"status": "new"}
    value, after_hook = _served(api, admin)
    assert value == 5
    assert after_hook["computed_at"] > fresh["computed_at"] and after_hook["mode"] == "incremental"
    assert after_hook["pending"] is False

    itt = api.get("/api/v1/itt", params={"period": "2026Q2"}, headers=admin).json()
    assert itt["as_of"] == after_hook
    quality = api.get("/api/v1/data-quality", params={"period": "2026Q2"}, headers=admin).json()
    assert quality["as_of"] == after_hook
    csv = api.get(f"/api/v1/indicators/{CONTACTS}/values", params={"format": "csv"}, headers=admin)
    assert csv.headers["X-Sera-Sync-Run"] == str(run.id) and "X-Sera-Computed-At" in csv.headers


def test_figures_say_when_submissions_changed_since_they_were_computed(
    prim2: KoboWorld, api: TestClient, admin: dict[str, str]
) -> None:
    attend(prim2, 2)
    api.post("/api/v1/sync/runs", json={}, headers=admin)
    attend(prim2, 1)
    prim2.sync()  # a sync that did not go through the refresh (another process, say)
    value, fresh = _served(api, admin)
    assert (value, fresh["pending"]) == (2, True)
