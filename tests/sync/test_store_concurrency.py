"""Writers of the same submission at once (a webhook delivery racing a poll, two deliveries) all succeed, and
the store ends on the newest version, on SQLite and PostgreSQL alike: real threads, real connections."""

import random
import threading
from collections.abc import Callable

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from sync.connections import ConnectionSpec, add_connection, link_form
from sync.normalize import Record, kobo_record, odk_record
from sync.store import upsert_records
from sync.tables import Submission

WRITERS = 8
ROUNDS = 6


@pytest.fixture
def form_id(engine: Engine) -> int:
    with Session(engine) as session:
        connection = add_connection(session, ConnectionSpec(name="kobo", platform="kobo", url="http://kobo.test"))
        remote = link_form(session, connection, "attendance", "aAsset")
        session.commit()
        assert remote.id is not None
        return remote.id


def kobo_version(version: int) -> Record:
    """Version `version` of one Kobo submission: version 1 is the first, each later one an edit of the one before."""
    row: dict[str, object] = {
        "_id": 7,
        "_uuid": f"v{version}",
        "meta/instanceID": f"uuid:v{version}",
        "meta/rootUuid": "uuid:v1",
        "_submission_time": "2026-05-03T06:20:11",
        "q": str(version),
    }
    if version > 1:
        row["meta/deprecatedID"] = f"uuid:v{version - 1}"
    return kobo_record(row)


def odk_version(version: int) -> Record:
    """Version `version` of one ODK Central submission; `updatedAt` moves forward with each version."""
    meta = {"instanceID": f"uuid:v{version}"} | ({"deprecatedID": f"uuid:v{version - 1}"} if version > 1 else {})
    system = {
        "submissionDate": "2026-05-03T06:20:11.000Z",
        "updatedAt": None if version == 1 else f"2026-05-03T07:{version:02d}:00.000Z",
        "reviewState": None if version == 1 else "edited",
    }
    return odk_record({"__id": "uuid:v1", "__system": system, "meta": meta, "q": version})


def race(engine: Engine, form_id: int, jobs: list[Callable[[Session], None]]) -> list[BaseException]:
    """Run each job in its own thread and transaction, all released at once; returns what any of them raised."""
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def run(job: Callable[[Session], None]) -> None:
        barrier.wait()
        try:
            with Session(engine) as session:
                job(session)
                session.commit()
        except BaseException as error:  # collected, and asserted on by the test
            errors.append(error)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def writer(form_id: int, record: Record, source: str) -> Callable[[Session], None]:
    def job(session: Session) -> None:
        upsert_records(session, form_id, [record], run_id=None, source=source)

    return job


def stored(engine: Engine) -> list[tuple[str, str | None, bool]]:
    with Session(engine) as session:
        return [(r.root_id, r.instance_id, r.deleted) for r in session.exec(select(Submission))]


def test_first_deliveries_and_polls_of_one_new_submission_all_succeed(engine: Engine, form_id: int) -> None:
    for _round in range(ROUNDS):
        with Session(engine) as session:
            for row in session.exec(select(Submission)):
                session.delete(row)
            session.commit()
        jobs = [writer(form_id, kobo_version(1), "hook" if i % 2 else "poll") for i in range(WRITERS)]
        assert race(engine, form_id, jobs) == []
        assert stored(engine) == [("uuid:v1", "uuid:v1", False)]


@pytest.mark.parametrize("make", [kobo_version, odk_version], ids=["kobo", "odk"])
def test_racing_versions_end_on_the_newest(engine: Engine, form_id: int, make: Callable[[int], Record]) -> None:
    """Kobo: the first version and its edit, in every order (a chain is all Kobo says); ODK: five versions in any
    order (`updatedAt` orders them all). Pushes and polls mixed."""
    newest = 2 if make is kobo_version else 5
    shuffler = random.Random(9)
    for _round in range(ROUNDS):
        with Session(engine) as session:
            for row in session.exec(select(Submission)):
                session.delete(row)
            session.commit()
        versions = [1 + i % newest for i in range(WRITERS)]
        shuffler.shuffle(versions)
        jobs = [writer(form_id, make(v), "hook" if i % 2 else "poll") for i, v in enumerate(versions)]
        assert race(engine, form_id, jobs) == []
        assert stored(engine) == [("uuid:v1", f"uuid:v{newest}", False)]
