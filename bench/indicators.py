"""Indicator benchmark: N demo submissions, a full compute, incremental computes after a few changes, API latency.

For each backend, in a throwaway database (dropped at the end unless `--keep`):

1. `analysis.demo.generate_demo` writes N PRIM 2 submissions (the `sera demo` path), then ANALYZE;
2. a full compute (`analysis.compute.compute(..., full=True)`), with the number of input rows and cells;
3. an incremental compute after 10 new submissions spread over the forms (drafts of the same scenarios with
   another seed, shaped as Kobo rows and stored through `sync.store.upsert_records`, as the demo stores them);
4. an incremental compute after 5 edits (an activity moved to another quarter, a person's sex corrected) and 5
   deletions (tombstones, as a sync records them) of existing submissions;
5. p50/p95 latency of `GET /api/v1/indicators/{code}/values` for a few representative requests, for the SERA
   officer and for a viewer (suppression), and the time of one data quality request and one draft report.

Incremental runs read exactly the submissions written since the previous run (`analysis.changes`); what is
measured is the cost of the change.

    .venv/bin/python bench/indicators.py                          # 1,000,000 submissions, PostgreSQL
    .venv/bin/python bench/indicators.py --count 100000 --backends postgresql,sqlite
    .venv/bin/python bench/indicators.py --api-only postgresql+psycopg://postgres@127.0.0.1:5432/sera_bench_…
"""

import argparse
import datetime as dt
import random
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, func, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, col, select

from analysis.compute import ComputeReport, compute
from analysis.demo import DEMO_CONNECTION, DEMO_SOURCE, SCENARIOS, generate_demo, split_submissions
from analysis.demo_kobo import KoboShaper
from analysis.demo_world import World, new_uuid
from analysis.facts import locate_questions
from analysis.tables import IndicatorInput, IndicatorValue
from bench._common import create_database, drop_database
from catalogue.model import Catalogue
from catalogue.store import load_catalogue
from catalogue.validation import read_catalogue
from sera.db import make_engine
from sera.migrate import upgrade
from sera.settings import DEFAULT_CATALOGUE, Settings
from sera.tokens import create_token
from sync.normalize import kobo_record
from sync.store import tombstone, upsert_records
from sync.tables import Connection, RemoteForm, Submission
from xlsforms.build import form_version

SECRET = "bench-person-key-secret"
REQUESTS = 200
SEED = 2026
T = TypeVar("T")


def timed(call: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


@contextmanager
def session_of(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        yield session
        session.commit()


def analyze(engine: Engine) -> None:
    """Fresh planner statistics after a bulk load (autovacuum may be off, as on the benchmark machine)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))


def demo_remotes(session: Session) -> dict[str, RemoteForm]:
    """The demo's remote forms by catalogue form id."""
    query = select(RemoteForm).join(Connection).where(Connection.name == DEMO_CONNECTION)
    return {remote.form_id: remote for remote in session.exec(query)}


def add_new(session: Session, catalogue: Catalogue, count: int) -> int:
    """`count` new submissions over the demo's forms: drafts of the same scenarios with another seed."""
    world = World(catalogue)
    scenarios = [kind(world, SEED + 1) for kind in SCENARIOS if kind.form_id in world.forms]
    counts = split_submissions(
        count, {s.form_id: s.share for s in scenarios}, {s.form_id: s.capacity() for s in scenarios}
    )
    remotes = demo_remotes(session)
    next_id = int(session.exec(select(func.max(col(Submission.remote_seq)))).one() or 0) + 1
    for scenario in scenarios:
        remote = remotes[scenario.form_id]
        form = world.forms[scenario.form_id]
        shaper = KoboShaper(
            world,
            form,
            remote_id=remote.remote_id,
            version=form_version(catalogue, form),
            base_url="https://demo.sera.invalid",
            seed=scenario.seed,
        )
        ids = random.Random(f"bench/{scenario.form_id}/ids")
        records = []
        for draft in scenario.drafts(counts[scenario.form_id]):
            records.append(kobo_record(shaper.row(draft, next_id, ids)))
            next_id += 1
        assert remote.id is not None
        upsert_records(session, remote.id, records, run_id=None, source=DEMO_SOURCE)
    return sum(counts.values())


def _pick(session: Session, remote: RemoteForm, rng: random.Random) -> Submission:
    """A live submission of a form, drawn at random by id (an indexed probe, not an OFFSET scan)."""
    low, high = session.exec(
        select(func.min(col(Submission.id)), func.max(col(Submission.id))).where(Submission.remote_form_id == remote.id)
    ).one()
    query = (
        select(Submission)
        .where(
            Submission.remote_form_id == remote.id,
            col(Submission.deleted).is_(False),
            col(Submission.id) >= rng.randint(low, high),
        )
        .order_by(col(Submission.id))
        .limit(1)
    )
    return session.exec(query).first() or session.exec(query.where(col(Submission.id) >= low)).one()


def _edited(catalogue: Catalogue, form_id: str, data: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A new version of a Kobo row: its activity moved by one to three quarters or, half the time, sex corrected."""
    form = next(f for f in catalogue.forms if f.id == form_id)
    paths = {name: "/".join(q.path) for name, q in locate_questions(form).items()}
    row = dict(data)
    date_path = paths[form.activity_date]
    sex_path = paths.get(form.dimensions.get("sex", ""), "")
    if sex_path in row and rng.random() < 0.5:
        row[sex_path] = "male" if row[sex_path] == "female" else "female"
    elif date_path in row:
        day = dt.date.fromisoformat(row[date_path][:10]) + dt.timedelta(days=rng.choice((-200, -100, 100)))
        row[date_path] = min(max(day, dt.date(2026, 1, 1)), dt.date(2028, 12, 31)).isoformat()
    fresh = new_uuid(rng)
    row["meta/deprecatedID"] = row["meta/instanceID"]
    row["meta/instanceID"] = f"uuid:{fresh}"
    row["_uuid"] = fresh
    return row


def edit_and_delete(session: Session, catalogue: Catalogue, edits: int, deletions: int) -> None:
    """Edits and deletions of random existing submissions, most of them attendance (the largest form)."""
    rng = random.Random(f"{SEED}/bench/edits")
    remotes = demo_remotes(session)
    forms = ["attendance"] * 3 + sorted(remotes)
    for _ in range(edits):
        remote = remotes[rng.choice(forms)]
        submission = _pick(session, remote, rng)
        assert remote.id is not None
        row = _edited(catalogue, remote.form_id, submission.data, rng)
        upsert_records(session, remote.id, [kobo_record(row)], run_id=None, source=DEMO_SOURCE)
    for _ in range(deletions):
        remote = remotes[rng.choice(forms)]
        assert remote.id is not None
        tombstone(session, remote.id, [_pick(session, remote, rng).root_id], run_id=None)


def _compute(engine: Engine, catalogue: Catalogue, *, full: bool) -> tuple[ComputeReport, float]:
    with session_of(engine) as session:
        return timed(lambda: compute(session, catalogue, full=full, person_key_secret=SECRET))


def _print_run(backend: str, label: str, report: ComputeReport, seconds: float) -> None:
    periods = sum(len(p) for p in report.recomputed.values())
    print(
        f"{backend:10} {label:38} {seconds:8.2f} s  {report.submissions:>9,} submissions read  "
        f"{report.cells_changed:>8,} cells changed  {len(report.recomputed)} indicators, {periods} periods"
    )


def latency(settings: Settings, token: str, requests: list[tuple[str, str]]) -> list[tuple[str, float, float]]:
    """(label, p50 ms, p95 ms) of each request, `REQUESTS` times (after one warm-up)."""
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

    from api.app import create_app

    results = []
    with TestClient(create_app(settings)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        for label, url in requests:
            assert client.get(url, headers=headers).status_code == 200, url
            times = []
            for _ in range(REQUESTS):
                started = time.perf_counter()
                response = client.get(url, headers=headers)
                times.append(time.perf_counter() - started)
                assert response.status_code == 200
            cuts = statistics.quantiles(times, n=20)
            results.append((label, cuts[9] * 1000, cuts[18] * 1000))
    return results


VALUES_REQUESTS = [
    ("OS-1 people (unique), by sex", "/api/v1/indicators/OS-1/values?by=sex"),
    ("R1-2 ratio (latest), by region,partner", "/api/v1/indicators/R1-2/values?by=region,partner"),
    ("R1.3-2 count, whole range with LOP", "/api/v1/indicators/R1.3-2/values?from=2026Q1&to=2028Q4&lop=true"),
    ("R1.3-1 people (unique), by sex,region", "/api/v1/indicators/R1.3-1/values?by=sex,region&limit=1000"),
]


def measure_api(backend: str, url: str) -> None:
    """Latency of the values endpoint for the SERA officer and for a viewer (whose answers go through small-cell
    suppression), then one data quality request and one draft quarterly report (both built on request)."""
    engine = make_engine(url)
    with session_of(engine) as session:
        tokens = {role: create_token(session, role, label="bench")[1] for role in ("admin", "viewer")}
    engine.dispose()
    settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    for role, token in tokens.items():
        for label, p50, p95 in latency(settings, token, VALUES_REQUESTS):
            print(f"{backend:10} GET values ({role}): {label:38} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms")
    for label, path in ONE_OFF_REQUESTS:
        seconds = once(settings, tokens["admin"], path)
        print(f"{backend:10} {label:48} {seconds:8.2f} s")


ONE_OFF_REQUESTS = [
    ("GET data-quality?period=2027Q2", "/api/v1/data-quality?period=2027Q2"),
    ("GET reports/quarterly/2027Q2.xlsx (draft)", "/api/v1/reports/quarterly/2027Q2.xlsx"),
]


def once(settings: Settings, token: str, path: str) -> float:
    """Seconds of one request (the first: nothing cached)."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(settings)) as client:
        started = time.perf_counter()
        response = client.get(path, headers={"Authorization": f"Bearer {token}"})
        seconds = time.perf_counter() - started
        assert response.status_code == 200, response.text
    return seconds


def bench(backend: str, count: int, *, keep: bool) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="sera-bench-"))
    url, pg_name = create_database(backend, workdir)
    try:
        upgrade(url)
        engine = make_engine(url)
        catalogue = read_catalogue(DEFAULT_CATALOGUE)
        with session_of(engine) as session:
            load_catalogue(session, catalogue, source="bench")
        with session_of(engine) as session:
            demo, seconds = timed(lambda: generate_demo(session, catalogue, submissions=count, seed=SEED))
        analyze(engine)
        print(f"{backend:10} {'demo generation':38} {seconds:8.2f} s  {demo.submissions:>9,} submissions")
        report, seconds = _compute(engine, catalogue, full=True)
        _print_run(backend, "full compute", report, seconds)
        analyze(engine)
        with session_of(engine) as session:
            inputs = session.exec(select(func.count(col(IndicatorInput.id)))).one()
            cells = session.exec(select(func.count(col(IndicatorValue.id)))).one()
        print(f"{backend:10} {'':38} {inputs:>10,} input rows  {cells:>9,} cells")
        _print_run(backend, "incremental, nothing changed", *_compute(engine, catalogue, full=False))
        with session_of(engine) as session:
            add_new(session, catalogue, 10)
        _print_run(backend, "incremental after 10 new submissions", *_compute(engine, catalogue, full=False))
        with session_of(engine) as session:
            edit_and_delete(session, catalogue, edits=5, deletions=5)
        _print_run(backend, "incremental after 5 edits, 5 deletions", *_compute(engine, catalogue, full=False))
        engine.dispose()
        measure_api(backend, url)
        if keep:
            print(f"{backend:10} kept: {url}")
    finally:
        if not keep:
            shutil.rmtree(workdir)
            if pg_name:
                drop_database(pg_name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--backends", default="postgresql")
    parser.add_argument("--keep", action="store_true", help="keep the database (its URL is printed)")
    parser.add_argument("--api-only", metavar="URL", help="only the API figures, on a database kept by --keep")
    args = parser.parse_args()
    if args.api_only:
        upgrade(args.api_only)
        measure_api(make_url(args.api_only).get_backend_name(), args.api_only)
        return
    for backend in args.backends.split(","):
        bench(backend.strip(), args.count, keep=args.keep)


if __name__ == "__main__":
    main()
