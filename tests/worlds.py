"""Worlds for sync scenarios: fake servers on 127.0.0.1, a connection and a linked form in the test database,
and a runner that drives the production sync code (clients, pull, store) against them."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from sera.db import session_scope
from sera.settings import Settings
from sync.connections import ConnectionSpec, add_connection, link_form
from sync.http import RetryPolicy
from sync.kobo.client import KoboClient
from sync.odk.client import CentralClient
from sync.pull import PullOptions
from sync.service import sync_forms, targets
from sync.tables import Connection, Submission, SyncRun
from tests.fakes.kobo import KoboFake
from tests.fakes.loopback import AppSlot, serve
from tests.fakes.odk_central import CentralFake, make_xform

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


def client_factory(sleeps: list[float]) -> Callable[[Connection, str], Any]:
    """The production client of a connection's platform, retrying without waiting; delays go into `sleeps`."""

    def factory(connection: Connection, secret: str) -> Any:
        if connection.platform == "kobo":
            return KoboClient(connection.url, secret, policy=NO_WAIT, sleep=sleeps.append)
        assert connection.email is not None
        return CentralClient(connection.url, connection.email, secret, policy=NO_WAIT, sleep=sleeps.append)

    return factory


def sync_once(engine: Engine, settings: Settings, sleeps: list[float], options: PullOptions) -> SyncRun:
    """One `sera sync` of the single linked form; returns its run."""
    runs = sync_forms(engine, settings, targets(engine), options=options, client_factory=client_factory(sleeps))
    assert len(runs) == 1
    return runs[0]


ODK_EMAIL = "sera@example.org"
ODK_PASSWORD = "correct horse battery staple"


def kobo_connection(engine: Engine, url: str) -> Connection:
    """The test database's Kobo connection (`kobo`); its token is read from SERA_TEST_KOBO_TOKEN."""
    with session_scope(engine) as session:
        connection = add_connection(
            session, ConnectionSpec(name="kobo", platform="kobo", url=url, secret_env="SERA_TEST_KOBO_TOKEN")
        )
        session.expunge(connection)
    return connection


def central_connection(engine: Engine, url: str, project: int) -> Connection:
    """The test database's ODK Central connection (`central`); its password is read from SERA_TEST_ODK_PASSWORD."""
    spec = ConnectionSpec(
        name="central",
        platform="odk",
        url=url,
        project_id=project,
        email=ODK_EMAIL,
        secret_env="SERA_TEST_ODK_PASSWORD",
    )
    with session_scope(engine) as session:
        connection = add_connection(session, spec)
        session.expunge(connection)
    return connection


def link(engine: Engine, connection: Connection, form_id: str, remote_id: str) -> None:
    with session_scope(engine) as session:
        link_form(session, session.merge(connection), form_id, remote_id)


@dataclass
class _World:
    """What every world has: the test database, and the delays its clients would have slept."""

    engine: Engine
    settings: Settings
    sleeps: list[float]

    def sync(self, *, full: bool = False, page_size: int = 100, **options: Any) -> SyncRun:
        """One `sera sync` of the linked form through the production code; returns its run."""
        return sync_once(
            self.engine, self.settings, self.sleeps, PullOptions(full=full, page_size=page_size, **options)
        )


@dataclass
class KoboWorld(_World):
    fake: KoboFake = field(kw_only=True)
    url: str = field(kw_only=True)
    asset: str = field(kw_only=True)

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
        link(engine, kobo_connection(engine, url), "attendance", asset)
        yield KoboWorld(engine, settings, [], fake=fake, url=url, asset=asset)


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


@dataclass
class OdkWorld(_World):
    fake: CentralFake = field(kw_only=True)
    url: str = field(kw_only=True)
    project: int = field(kw_only=True)
    form_id: str = field(kw_only=True)

    def add(self, count: int, **answers: Any) -> list[dict[str, Any]]:
        return [
            self.fake.add_submission(
                self.project,
                self.form_id,
                {"name": f"P{i}", "age": 18 + i % 50, "household": {"size": 1 + i % 6}, **answers},
                repeats={"people": [{"person": "A", "years": 7}]},
            )
            for i in range(count)
        ]

    def server_rows(self) -> dict[str, dict[str, Any]]:
        with self.fake.lock:
            form = self.fake.form(self.project, self.form_id)
            return {s.instance_id: self.fake.row(form, s) for s in form.submissions.values() if s.deleted_at is None}

    def assert_store_equals_server(self) -> None:
        server, stored = self.server_rows(), stored_rows(self.engine)
        assert sorted(stored) == sorted(server)
        assert stored == server


@pytest.fixture(params=["2026.2", "2024.2"])
def odk_world(
    request: pytest.FixtureRequest, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[OdkWorld]:
    """An ODK Central fake (a current server, and one from before `deletedAt`) with a published form."""
    fake = CentralFake(version=request.param)
    fake.add_user(ODK_EMAIL, ODK_PASSWORD)
    project = fake.add_project("PRIM 2")
    fake.add_form(project, make_xform("suivi_activites", "v1"))
    monkeypatch.setenv("SERA_TEST_ODK_PASSWORD", ODK_PASSWORD)
    with serve(fake.app) as url:
        link(engine, central_connection(engine, url, project), "attendance", "suivi_activites")
        yield OdkWorld(engine, settings, [], fake=fake, url=url, project=project, form_id="suivi_activites")


@pytest.fixture(scope="module")
def slot() -> Iterator[tuple[AppSlot, str]]:
    """One loopback server per test module; each test plugs its own fake into it (`slot[0].app = fake.app`)."""
    forwarding = AppSlot()
    with serve(forwarding) as url:
        yield forwarding, url
