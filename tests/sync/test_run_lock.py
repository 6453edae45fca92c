"""One running run per form, whoever asks and however long it takes: the run row is the lock (item 5 of issue 9)."""

import contextlib
import datetime as dt
import os
import socket
import subprocess
import sys
import threading
from typing import Any

from sqlalchemy import Engine, event
from sqlmodel import Session, select

from catalogue.tables import utcnow
from sera.db import session_scope
from sync.runs import Liveness
from sync.service import sync_forms, targets
from sync.tables import SyncRun
from tests.worlds import KoboWorld, add_people, client_factory, runs


def _sync(world: KoboWorld, **kwargs: Any) -> list[SyncRun]:
    return sync_forms(world.engine, world.settings, targets(world.engine), client_factory=client_factory([]), **kwargs)


def test_two_threads_racing_on_one_form_start_exactly_one_run(kobo_world: KoboWorld, session: Session) -> None:
    """Both threads pass any "is it running?" look before either inserts: the insert itself must decide."""
    add_people(kobo_world.fake, kobo_world.asset, 30)
    barrier = threading.Barrier(2, timeout=5)

    def meet_at_the_insert(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO SYNC_RUN"):
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()

    event.listen(kobo_world.engine, "before_cursor_execute", meet_at_the_insert)
    results: list[list[SyncRun]] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(_sync(kobo_world))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    event.remove(kobo_world.engine, "before_cursor_execute", meet_at_the_insert)
    assert errors == []
    stored = runs(session)
    assert [run.status for run in stored] == ["success"]
    outcomes = sorted(run.status for [run] in results)
    assert outcomes == ["running", "success"], "the loser reports the holder, still running when it looked"
    assert {run.id for [run] in results} == {stored[0].id}
    kobo_world.assert_store_equals_server()


def test_two_sera_sync_processes_on_one_form_start_exactly_one_run(
    kobo_world: KoboWorld, session: Session, database_url: str
) -> None:
    add_people(kobo_world.fake, kobo_world.asset, 30)
    release = threading.Event()
    kobo_world.fake.between_pages(lambda _page: release.wait(60))
    env = {**os.environ, "SERA_DATABASE_URL": database_url, "SERA_TEST_KOBO_TOKEN": kobo_world.fake.token}
    command = [sys.executable, "-m", "sera.cli", "sync"]
    processes = [
        subprocess.Popen(command, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)
    ]
    # The winner waits in its first page until released; the loser must answer on its own meanwhile.
    waiting = {process.pid: process for process in processes}
    outputs: dict[int, tuple[str, str, int]] = {}
    while len(outputs) < 1:
        for pid, process in list(waiting.items()):
            try:
                out, err = process.communicate(timeout=0.5)
            except subprocess.TimeoutExpired:
                continue
            outputs[pid] = (out, err, process.returncode)
            del waiting[pid]
    release.set()
    for pid, process in waiting.items():
        out, err = process.communicate(timeout=120)
        outputs[pid] = (out, err, process.returncode)
    [(loser_out, loser_err, loser_code)] = [outputs[p.pid] for p in processes if p.pid not in waiting]
    [(winner_out, winner_err, winner_code)] = [outputs[p.pid] for p in processes if p.pid in waiting]
    stored = runs(session)
    assert [run.status for run in stored] == ["success"]
    assert winner_code == 0, winner_err
    assert "kobo/attendance: success" in winner_out
    assert loser_code == 0, loser_err
    assert f"kobo/attendance: already running as run={stored[0].id}" in loser_out
    assert "IntegrityError" not in loser_err + winner_err
    kobo_world.assert_store_equals_server()


def test_a_run_whose_page_takes_longer_than_the_stale_limit_is_not_abandoned(
    kobo_world: KoboWorld, session: Session
) -> None:
    """The heartbeat does not wait for pages: a second sync past the stale limit still finds the first alive."""
    liveness = Liveness(stale_after=dt.timedelta(seconds=1), beat_every=dt.timedelta(seconds=0.05))
    add_people(kobo_world.fake, kobo_world.asset, 150)
    paused, resume = threading.Event(), threading.Event()

    def slow_first_page(page: int) -> None:
        if page == 1:
            paused.set()
            resume.wait(60)

    kobo_world.fake.between_pages(slow_first_page)
    first: list[list[SyncRun]] = []
    worker = threading.Thread(target=lambda: first.append(_sync(kobo_world, liveness=liveness)))
    worker.start()
    assert paused.wait(60)
    started = session.exec(select(SyncRun)).one().started_at
    while utcnow() - started <= liveness.stale_after * 2:
        threading.Event().wait(0.1)
    [second] = _sync(kobo_world, liveness=liveness)
    resume.set()
    worker.join(timeout=60)
    assert second.status == "running"
    [[run]] = first
    assert second.id == run.id
    assert run.status == "success"
    session.expire_all()
    assert [r.status for r in runs(session)] == ["success"]
    assert not [t for t in threading.enumerate() if t.name.endswith("-heartbeat")], "stopped with its run"


def test_a_run_without_heartbeat_from_another_host_is_taken_over(kobo_world: KoboWorld, session: Session) -> None:
    add_people(kobo_world.fake, kobo_world.asset, 5)
    _stale(kobo_world.engine, worker="elsewhere:4242", beat=utcnow() - dt.timedelta(minutes=20))
    [run] = _sync(kobo_world)
    assert run.status == "success"
    assert [r.status for r in runs(session)] == ["abandoned", "success"]


def test_a_live_run_from_another_host_is_left_alone(kobo_world: KoboWorld, session: Session) -> None:
    _stale(kobo_world.engine, worker="elsewhere:4242", beat=utcnow())
    [run] = _sync(kobo_world)
    assert (run.status, run.worker) == ("running", "elsewhere:4242")
    assert [r.status for r in runs(session)] == ["running"]


def test_a_run_this_process_lost_with_its_database_is_taken_over_at_once(
    kobo_world: KoboWorld, session: Session
) -> None:
    """`sera sync --watch` keeps its process: a run it could not close (database gone mid-run) must not hold the
    form against the watcher's own next pass until the stale limit."""
    add_people(kobo_world.fake, kobo_world.asset, 5)
    _stale(kobo_world.engine, worker=f"{socket.gethostname()}:{os.getpid()}", beat=utcnow())
    [run] = _sync(kobo_world)
    assert run.status == "success"
    assert [r.status for r in runs(session)] == ["abandoned", "success"]


def _stale(engine: Engine, *, worker: str, beat: dt.datetime) -> None:
    with session_scope(engine) as s:
        [target] = targets(engine)
        s.add(
            SyncRun(
                connection_id=target.connection.id,
                remote_form_id=target.remote_form.id,
                mode="incremental",
                worker=worker,
                started_at=beat,
                heartbeat_at=beat,
            )
        )
