"""Sync benchmark: pull N submissions from the fake Kobo server into SQLite and PostgreSQL.

Prints submissions per second of a full first pull, the peak Python memory of the pulling process (tracemalloc,
which slows Python about twice; `--no-trace` for the true speed) and its resident set growth, then the time of an
incremental run after 100 new submissions. The fake server answers each page by scanning its records in Python,
so at 100,000 part of the time is the fake's, not the sync's.
The fake server runs in its own process, so its data does not count in the sync's memory.

    .venv/bin/python bench/sync.py                 # 100,000 submissions, both databases
    .venv/bin/python bench/sync.py --count 20000 --backends sqlite
"""

import argparse
import datetime as dt
import multiprocessing
import os
import resource
import socket
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import create_database, drop_database
from sera.db import make_engine, session_scope
from sera.migrate import upgrade
from sera.settings import Settings
from sync.connections import ConnectionSpec, add_connection, link_form
from sync.pull import PullOptions
from sync.service import sync_forms, targets


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve_fake(port: int, count: int, ready: Any, commands: Any) -> None:
    """The fake Kobo server with `count` submissions; adds more on command."""
    import threading

    import uvicorn

    from tests.fakes.kobo import KoboFake

    fake = KoboFake(max_limit=1000)
    asset = fake.add_asset("Benchmark")
    # Submissions arrive over the past 180 days, as on a real project, so the incremental run's look-back
    # window holds the last hour, not everything.
    first = dt.datetime.now(dt.UTC) - dt.timedelta(days=180)
    step = dt.timedelta(days=180) / max(count, 1)
    for i in range(count):
        fake.add_submission(
            asset,
            {
                "activity_date": "2026-05-04",
                "sex": "female" if i % 2 else "male",
                "age": str(18 + i % 60),
                "group/commune": "09.001.01.01",
            },
            submission_time=first + i * step,
        )
    server = uvicorn.Server(
        uvicorn.Config(fake.app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    ready.send((fake.token, asset))
    while True:
        command = commands.recv()
        if command == "stop":
            server.should_exit = True
            return
        for _ in range(int(command)):
            fake.add_submission(asset, {"activity_date": "2026-11-02", "sex": "female", "age": "30"})
        commands.send("added")


def bench(backend: str, url: str, token: str, asset: str, count: int, commands: Any, *, trace: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        database_url, pg_name = create_database(backend, Path(tmp))
        try:
            upgrade(database_url)
            engine = make_engine(database_url)
            os.environ["SERA_BENCH_KOBO_TOKEN"] = token
            with session_scope(engine) as session:
                connection = add_connection(
                    session, ConnectionSpec(name="bench", platform="kobo", url=url, secret_env="SERA_BENCH_KOBO_TOKEN")
                )
                link_form(session, connection, "attendance", asset)
            settings = Settings(_env_file=None, database_url=database_url)  # type: ignore[call-arg]
            chosen = targets(engine)
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            if trace:
                tracemalloc.start()
            started = time.perf_counter()
            [run] = sync_forms(engine, settings, chosen, options=PullOptions(full=True))
            elapsed = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1] if trace else 0
            tracemalloc.stop()
            rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            assert run.status == "success", run.error
            assert run.rows_new == count, (run.rows_new, count)
            memory = f"peak Python memory {peak / 2**20:6.1f} MiB (traced, ~2x slower)  " if trace else ""
            print(
                f"{backend:10} full pull  {count:>8,} submissions  {elapsed:7.1f} s  {count / elapsed:8,.0f} /s  "
                f"{memory}max RSS growth {(rss_after - rss_before) / 1024:6.1f} MiB"
            )
            commands.send(100)
            commands.recv()
            started = time.perf_counter()
            [run] = sync_forms(engine, settings, chosen, options=PullOptions())
            elapsed = time.perf_counter() - started
            assert run.status == "success" and run.rows_new == 100, (run.status, run.rows_new, run.error)
            print(f"{backend:10} incremental run with 100 new submissions: {elapsed:.2f} s ({run.pages} pages)")
            engine.dispose()
        finally:
            if pg_name:
                drop_database(pg_name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--no-trace", action="store_true", help="skip tracemalloc: true speed, no peak memory")
    args = parser.parse_args()
    for backend in args.backends.split(","):
        port = _free_port()
        ready_parent, ready_child = multiprocessing.Pipe()
        commands_parent, commands_child = multiprocessing.Pipe()
        server = multiprocessing.Process(
            target=_serve_fake, args=(port, args.count, ready_child, commands_child), daemon=True
        )
        server.start()
        token, asset = ready_parent.recv()
        try:
            bench(
                backend, f"http://127.0.0.1:{port}", token, asset, args.count, commands_parent, trace=not args.no_trace
            )
        finally:
            commands_parent.send("stop")
            server.join(timeout=10)


if __name__ == "__main__":
    main()
