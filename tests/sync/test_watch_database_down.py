"""`sera sync --watch` outlives the database: it says it is waiting, backs off (capped) and goes on when the
database is back, instead of dying with a traceback (item 22 of issue 9)."""

import os
import subprocess
import sys
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, ProgrammingError

from sera.cli import WATCH_RETRY_FIRST, WATCH_RETRY_MAX, watch_sync
from sera.db import make_engine

DEAD_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:1/sera"


def _refused() -> OperationalError:
    """The error SQLAlchemy raises when PostgreSQL refuses the connection, made by really trying."""
    engine = make_engine(DEAD_POSTGRES)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as error:
        return error
    finally:
        engine.dispose()
    raise AssertionError("a closed port accepted a connection")


def test_the_watch_loop_backs_off_while_the_database_is_down_then_goes_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    refused = _refused()
    outcomes: list[BaseException | None] = [refused] * 9 + [None, refused, None]
    passes: list[int] = []
    sleeps: list[float] = []

    def one_pass() -> None:
        passes.append(len(passes))
        outcome = outcomes[len(passes) - 1]
        if outcome is not None:
            raise outcome

    watch_sync(one_pass, 60.0, sleep=sleeps.append, passes=len(outcomes))
    assert len(passes) == len(outcomes)
    backoff = [min(WATCH_RETRY_FIRST * 2**n, WATCH_RETRY_MAX) for n in range(9)]
    assert sleeps == [*backoff, 60.0, WATCH_RETRY_FIRST, 60.0], "doubling, capped, reset once a pass succeeds"
    assert max(sleeps) == WATCH_RETRY_MAX
    err = capsys.readouterr().err
    assert err.count("database unavailable (OperationalError") == 10
    assert "retrying in 5 s (attempt 1)" in err
    assert f"retrying in {WATCH_RETRY_MAX:g} s (attempt 9)" in err
    assert err.count("database available again") == 2
    assert "Traceback" not in err


def test_the_watch_loop_does_not_hide_a_real_bug() -> None:
    """Only an unreachable database is waited for; a wrong statement still stops the watcher loudly."""
    bug = ProgrammingError("SELECT nope", {}, Exception("syntax error"))

    def one_pass() -> None:
        raise bug

    with pytest.raises(ProgrammingError):
        watch_sync(one_pass, 60.0, sleep=lambda _s: None, passes=3)


def test_sera_sync_watch_against_a_dead_database_keeps_running_and_says_so() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERA_") or k.startswith("SERA_TEST_")}
    env["SERA_DATABASE_URL"] = DEAD_POSTGRES
    process = subprocess.Popen(
        [sys.executable, "-m", "sera.cli", "sync", "--watch", "--interval", "1"],
        env=env,
        text=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    first = threading.Event()
    lines: list[str] = []

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if "retrying in" in line:
                first.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert first.wait(60), "".join(lines)
        assert process.poll() is None, "still alive after a failed attempt"
    finally:
        process.kill()
        process.wait(timeout=30)
        reader.join(timeout=30)
    text_out = "".join(lines)
    assert "database unavailable (OperationalError (psycopg.OperationalError)); retrying in 5 s (attempt 1)" in text_out
    assert "Traceback" not in text_out


def test_sera_sync_once_against_a_dead_database_fails_in_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERA_") or k.startswith("SERA_TEST_")}
    env["SERA_DATABASE_URL"] = DEAD_POSTGRES
    done = subprocess.run(
        [sys.executable, "-m", "sera.cli", "sync"], env=env, text=True, capture_output=True, timeout=120
    )
    assert done.returncode == 1
    assert "database unavailable" in done.stderr
    assert "Traceback" not in done.stderr
