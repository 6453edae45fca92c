"""`sera demo`: realistic, reproducible synthetic PRIM 2 submissions for every form, and their removal.

A newcomer's first run should show figures and a report, and the benchmarks need a million submissions that look
like the programme's. The demo data lives under its own connection (`demo`, platform `demo`, never synced) with
one remote form per catalogue form (`demo-<form id>`), and its submissions are stored exactly as a Kobo pull would
store them (Kobo-shaped JSON through `sync.normalize.kobo_record` and `sync.store.upsert_records`, with
`source = "demo"`), so everything downstream treats them as real data.

Reproducible: a seed and a count give the same rows and hashes every time (`random.Random` streams derived from
the seed, uuids drawn from them, a fixed clock from April 2026 to October 2028). Memory stays flat: each form's
submissions are generated in time order and written batch by batch; people are recomputed from their index
rather than kept. The share of each form follows the programme (attendance the largest); forms whose volume is
bounded by the programme's structure (reports per grant and quarter, visits per institution, training sessions)
stop there and the rest goes to the others.
"""

import datetime as dt
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import delete, func, text
from sqlmodel import Session, col, select

from analysis.demo_beneficiaries import AttendanceScenario, FeedbackScenario
from analysis.demo_check import FormChecker
from analysis.demo_institutions import CommuneSupportScenario, TrainingScenario
from analysis.demo_kobo import Draft, KoboShaper, Scenario
from analysis.demo_partners import GrantReportScenario
from analysis.demo_world import DemoUnsupported, World, allocate
from catalogue.model import Catalogue
from sync.connections import DEMO_PLATFORM, ConnectionSpec, add_connection, link_form, real_connections
from sync.normalize import Record, kobo_record
from sync.store import upsert_records
from sync.tables import Connection, RemoteForm, Submission, SyncRun
from xlsforms.build import form_version

DEMO_CONNECTION = "demo"
DEMO_URL = "https://demo.sera.invalid"
"""A reserved name (RFC 2606) that resolves nowhere: the demo connection can never reach a server."""
DEMO_SOURCE = "demo"
FIRST_ID = 410_000_001
"""The demo server's first `_id` (Kobo ids are unique per server and grow with each submission)."""
DEPLOYED_AT = dt.datetime(2026, 3, 20, 9, 0, tzinfo=dt.UTC)
SCENARIOS: tuple[type[Scenario], ...] = (
    GrantReportScenario,
    CommuneSupportScenario,
    TrainingScenario,
    AttendanceScenario,
    FeedbackScenario,
)
CHECKED_ROWS = 25
"""Rows of each form checked against the form at generation time: enough to catch a catalogue edit the scenarios
no longer match, cheap enough for a million rows (the tests check every row)."""
LATE_DAYS = 7

ANALYZE_FIRST = 5_000
"""PostgreSQL plans the store's root-id lookups from table statistics, which a single transaction writing
thousands of rows leaves stale (a filter over every row of the form instead of the unique index: quadratic).
Statistics are refreshed after this many rows, then each time the count quadruples."""

Progress = Callable[[str, int, int], None]
"""Called after each batch with (form id, submissions written so far, submissions planned for the form)."""


class RealDataPresent(Exception):
    """A real connection exists: demo submissions would be counted with its data."""

    def __init__(self, connections: list[str]) -> None:
        self.connections = connections
        super().__init__(
            f"real connection(s) {', '.join(connections)} exist: demo data would be counted with their "
            "submissions in every figure, so none is added (try the demo on an empty database)"
        )


class DemoExists(Exception):
    """Demo data is already loaded; `sera demo clear` removes it first."""

    def __init__(self, submissions: int, seed: int | None) -> None:
        self.submissions = submissions
        self.seed = seed
        seeded = f", seed {seed}" if seed is not None else ""
        super().__init__(
            f"demo data is already loaded ({submissions:,} submissions{seeded}): run `sera demo clear` first"
        )


@dataclass
class FormReport:
    """What was generated for one form."""

    form_id: str
    remote_id: str
    submissions: int = 0
    people: int | None = None
    """Distinct people described (same identifiers), for forms that identify people."""
    edited: int = 0
    late: int = 0
    """Received more than `late_after` days after the activity (offline phones, reports past their deadline)."""
    first_activity: dt.date | None = None
    last_activity: dt.date | None = None
    late_after: int = LATE_DAYS

    def count(self, draft: Draft) -> None:
        self.submissions += 1
        self.edited += draft.edited
        if draft.activity is None:
            return
        if (draft.received.date() - draft.activity).days > self.late_after:
            self.late += 1
        if self.first_activity is None or draft.activity < self.first_activity:
            self.first_activity = draft.activity
        if self.last_activity is None or draft.activity > self.last_activity:
            self.last_activity = draft.activity


@dataclass
class DemoReport:
    seed: int
    requested: int
    forms: list[FormReport] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Catalogue forms without a demo scenario, or scenarios without their form."""
    seconds: float = 0.0

    @property
    def submissions(self) -> int:
        return sum(form.submissions for form in self.forms)


class _Statistics:
    """Keeps PostgreSQL's statistics of `submission` fresh while one transaction fills it (see ANALYZE_FIRST)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.postgres = session.get_bind().dialect.name == "postgresql"
        self.written = 0
        self.next = ANALYZE_FIRST

    def wrote(self, count: int) -> None:
        self.written += count
        if self.postgres and self.written >= self.next:
            self.session.execute(text("ANALYZE submission"))
            self.next *= 4


@dataclass(frozen=True)
class DemoStatus:
    submissions: int
    seed: int | None


def split_submissions(total: int, shares: dict[str, float], capacities: dict[str, int | None]) -> dict[str, int]:
    """Each form's count: `total` split by share, one at least each when possible, capacities moved to the rest."""
    forms = list(shares)
    counts = dict(zip(forms, allocate(total, [shares[form] for form in forms]), strict=True))
    if total >= len(forms):
        for form in forms:
            if counts[form] == 0:
                donor = max(forms, key=lambda other: counts[other])
                counts[donor] -= 1
                counts[form] = 1
    excess = 0
    for form in forms:
        capacity = capacities.get(form)
        if capacity is not None and counts[form] > capacity:
            excess += counts[form] - capacity
            counts[form] = capacity
    unbounded = [form for form in forms if capacities.get(form) is None]
    if excess and unbounded:
        for form, extra in zip(unbounded, allocate(excess, [shares[form] for form in unbounded]), strict=True):
            counts[form] += extra
    return counts


def demo_status(session: Session) -> DemoStatus | None:
    """The demo data in the store (None when there is none)."""
    connection = session.exec(select(Connection).where(Connection.platform == DEMO_PLATFORM)).first()
    if connection is None:
        return None
    remotes = list(session.exec(select(RemoteForm).where(RemoteForm.connection_id == connection.id)))
    count = session.exec(
        select(func.count(col(Submission.id))).where(col(Submission.remote_form_id).in_([r.id for r in remotes]))
    ).one()
    seeds = {r.remote_state.get("demo", {}).get("seed") for r in remotes} - {None}
    return DemoStatus(int(count), seeds.pop() if len(seeds) == 1 else None)


def generate_demo(
    session: Session,
    catalogue: Catalogue,
    *,
    submissions: int = 3000,
    seed: int = 2026,
    batch: int = 1000,
    progress: Progress | None = None,
) -> DemoReport:
    """Write `submissions` synthetic submissions for the catalogue's forms; the caller's transaction commits them.

    Refuses when demo data is already there (DemoExists): replacing it silently could change figures someone is
    looking at; and when a real connection exists (RealDataPresent): demo and real data are never counted
    together. Raises DemoUnsupported when the catalogue lacks what the scenarios need.
    """
    if submissions < 1 or batch < 1:
        raise ValueError("submissions and batch must be at least 1")
    started = time.perf_counter()
    existing = session.exec(select(Connection).where(Connection.name == DEMO_CONNECTION)).first()
    if existing is not None and existing.platform != DEMO_PLATFORM:
        raise DemoUnsupported(f"a {existing.platform} connection is named '{DEMO_CONNECTION}': rename it first")
    status = demo_status(session)
    if status is not None:
        raise DemoExists(status.submissions, status.seed)
    if real := real_connections(session):
        raise RealDataPresent(real)
    world = World(catalogue)
    report = DemoReport(seed=seed, requested=submissions)
    scenarios: list[Scenario] = []
    for kind in SCENARIOS:
        if kind.form_id in world.forms:
            scenarios.append(kind(world, seed))
        else:
            report.skipped.append(f"{kind.form_id}: not in the catalogue")
    known = {kind.form_id for kind in SCENARIOS}
    report.skipped += [f"{form.id}: no demo scenario" for form in catalogue.forms if form.id not in known]
    if not scenarios:
        raise DemoUnsupported("the catalogue has none of the forms the demo knows (the PRIM 2 forms)")
    counts = split_submissions(
        submissions, {s.form_id: s.share for s in scenarios}, {s.form_id: s.capacity() for s in scenarios}
    )
    connection = add_connection(session, ConnectionSpec(name=DEMO_CONNECTION, platform=DEMO_PLATFORM, url=DEMO_URL))
    writer = _Writer(session, world, catalogue, connection, batch, progress)
    report.forms = [writer.write(scenario, counts[scenario.form_id]) for scenario in scenarios]
    session.flush()
    report.seconds = time.perf_counter() - started
    return report


@dataclass
class _Writer:
    """Writes the forms of one demo run: one remote form each, its submissions in order, batch by batch."""

    session: Session
    world: World
    catalogue: Catalogue
    connection: Connection
    batch: int
    progress: Progress | None
    next_id: int = FIRST_ID
    """The next Kobo `_id`: ids run on across forms, as on one server."""
    statistics: _Statistics = field(init=False)

    def __post_init__(self) -> None:
        self.statistics = _Statistics(self.session)

    def write(self, scenario: Scenario, count: int) -> FormReport:
        session, world = self.session, self.world
        form = world.forms[scenario.form_id]
        version = form_version(self.catalogue, form)
        remote = link_form(session, self.connection, form.id, f"demo-{form.id}")
        remote.deployed_version = version
        remote.deployed_at = DEPLOYED_AT
        remote.remote_state = {"demo": {"seed": scenario.seed, "submissions": count}, "versions": {version: version}}
        session.add(remote)
        session.flush()
        assert remote.id is not None
        seed = scenario.seed
        shaper = KoboShaper(world, form, remote_id=remote.remote_id, version=version, base_url=DEMO_URL, seed=seed)
        checker = FormChecker(world.lookup, form)
        ids = random.Random(f"{seed}/{form.id}/ids")
        report = FormReport(form.id, remote.remote_id, late_after=scenario.late_after)
        pending: list[Record] = []
        for position, draft in enumerate(scenario.drafts(count)):
            row = shaper.row(draft, self.next_id, ids)
            self.next_id += 1
            if position < CHECKED_ROWS and (problems := checker.problems(row)):
                mismatch = "; ".join(problems[:5])
                raise DemoUnsupported(f"form '{form.id}' no longer matches its demo scenario: {mismatch}")
            report.count(draft)
            pending.append(kobo_record(row))
            if len(pending) >= self.batch or report.submissions == count:
                upsert_records(session, remote.id, pending, run_id=None, source=DEMO_SOURCE)
                self.statistics.wrote(len(pending))
                pending.clear()
                if self.progress is not None:
                    self.progress(form.id, report.submissions, count)
        if pending:
            upsert_records(session, remote.id, pending, run_id=None, source=DEMO_SOURCE)
        report.people = scenario.people()
        return report


def clear_demo(session: Session) -> int:
    """Delete the demo submissions, remote forms and connection; returns how many submissions went.

    Rows are removed, not tombstoned: they never came from a server, so there is nothing to keep for audit.
    Facts derived from them go with them (their foreign keys cascade); real connections and their submissions
    are untouched (only platform `demo` is cleared).
    """
    removed = 0
    for connection in session.exec(select(Connection).where(Connection.platform == DEMO_PLATFORM)).all():
        remote_ids = select(RemoteForm.id).where(RemoteForm.connection_id == connection.id)
        result = session.execute(delete(Submission).where(col(Submission.remote_form_id).in_(remote_ids)))
        removed += int(result.rowcount or 0)  # type: ignore[attr-defined]
        session.execute(delete(SyncRun).where(col(SyncRun.connection_id) == connection.id))
        session.execute(delete(RemoteForm).where(col(RemoteForm.connection_id) == connection.id))
        session.execute(delete(Connection).where(col(Connection.id) == connection.id))
    session.flush()
    return removed
