"""A `sera sync` process killed mid-run (SIGKILL, no cleanup at all), then started again, ends with exactly the
server's data: nothing lost, nothing duplicated, and the killed run is recorded as abandoned."""

import os
import signal
import subprocess
import sys
import threading

from sqlmodel import Session, select

from sync.tables import Submission, SyncRun
from tests.worlds import KoboWorld, add_people


def _sera(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sera.cli", *args], env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def test_a_killed_sync_process_resumes_to_exactly_the_server(
    kobo_world: KoboWorld, session: Session, database_url: str
) -> None:
    fake, asset = kobo_world.fake, kobo_world.asset
    add_people(fake, asset, 2500)
    env = {**os.environ, "SERA_DATABASE_URL": database_url, "SERA_TEST_KOBO_TOKEN": fake.token}
    killed = threading.Event()
    process: list[subprocess.Popen[str]] = []

    def kill_on_page(page: int) -> None:
        if page == 2 and not killed.is_set():
            os.kill(process[0].pid, signal.SIGKILL)
            killed.set()

    fake.between_pages(kill_on_page)
    process.append(_sera("sync", "--full", env=env))
    _out, err = process[0].communicate(timeout=120)
    assert killed.is_set(), err
    assert process[0].returncode == -signal.SIGKILL
    partial = len(session.exec(select(Submission)).all())
    assert partial == 1000
    fake.between_pages(None)

    second = _sera("sync", env=env)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert "kobo/attendance: success" in out
    kobo_world.assert_store_equals_server()
    assert len(session.exec(select(Submission)).all()) == 2500
    statuses = [run.status for run in session.exec(select(SyncRun).order_by(SyncRun.id))]
    assert statuses == ["abandoned", "success"]
