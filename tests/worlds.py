"""Worlds for sync scenarios: fake servers on 127.0.0.1, a connection and a linked form in the test database,
and a runner that drives the production sync code (clients, pull, store) against them."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from sera.db import session_scope
from sera.settings import Settings
from sync.connections import ConnectionSpec, add_connection, link_form
from sync.http import RetryPolicy
from sync.kobo.client import KoboClient
from sync.pull import PullOptions
from sync.service import sync_forms, targets
from sync.tables import Connection, Submission, SyncRun
from tests.fakes.kobo import KoboFake
from tests.fakes.loopback import serve

ATTENDANCE_SURVEY = [
    {"type": "start", "name": "start"},
    {"type": "date", "name": "activity_date", "label": ["Date de l'activité"]},
    {"type": "select_one sex", "name": "sex", "label": ["Sexe"]},
    {"type": "integer", "name": "age", "label": ["Âge"]},
]
"""The questions `add_people` answers (the fake checks nothing against it; peers such as pykobo read it)."""

NO_WAIT = RetryPolicy(attempts=6, base_delay=0.0, max_delay=0.0, max_retry_after=0.0)


def stored_rows(engine: Engine, *, include_deleted: bool = False) -> dict[str, dict[str, Any]]:
    """Live submissions in the store: root id → the JSON as the server gave it."""
    with session_scope(engine) as session:
        query = select(Submission)
        if not include_deleted:
            query = query.where(Submission.deleted == False)  # noqa: E712 - SQL comparison
        return {row.root_id: row.data for row in session.exec(query)}


@dataclass
class KoboWorld:
    fake: KoboFake
    url: str
    asset: str
    engine: Engine
    settings: Settings
    sleeps: list[float]

    def sync(self, *, full: bool = False, page_size: int = 100, **options: Any) -> SyncRun:
        """One `sera sync` of the linked form through the production code; returns its run."""

        def factory(connection: Connection, secret: str) -> KoboClient:
            return KoboClient(connection.url, secret, policy=NO_WAIT, sleep=self.sleeps.append)

        chosen = targets(self.engine)
        runs = sync_forms(
            self.engine,
            self.settings,
            chosen,
            options=PullOptions(full=full, page_size=page_size, **options),
            client_factory=factory,
        )
        assert len(runs) == 1
        return runs[0]

    def server_rows(self) -> dict[str, dict[str, Any]]:
        return {row["meta/rootUuid"]: row for row in self.fake.submissions(self.asset)}

    def assert_store_equals_server(self) -> None:
        server, stored = self.server_rows(), stored_rows(self.engine)
        assert sorted(stored) == sorted(server)
        assert stored == server


@pytest.fixture
def kobo_world(engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[KoboWorld]:
    fake = KoboFake(max_limit=1000)
    asset = fake.add_asset("Présence aux activités", survey=ATTENDANCE_SURVEY)
    monkeypatch.setenv("SERA_TEST_KOBO_TOKEN", fake.token)
    with serve(fake.app) as url:
        with session_scope(engine) as session:
            connection = add_connection(
                session, ConnectionSpec(name="kobo", platform="kobo", url=url, secret_env="SERA_TEST_KOBO_TOKEN")
            )
            link_form(session, connection, "attendance", asset)
        yield KoboWorld(fake, url, asset, engine, settings, [])


def add_people(fake: KoboFake, asset: str, count: int, **extra: Any) -> list[dict[str, Any]]:
    return [
        fake.add_submission(
            asset,
            {"activity_date": "2026-05-04", "sex": "female" if i % 2 else "male", "age": str(18 + i % 50), **extra},
        )
        for i in range(count)
    ]


def runs(session: Session) -> list[SyncRun]:
    return list(session.exec(select(SyncRun).order_by(SyncRun.id)))


Factory = Callable[[Connection, str], Any]
