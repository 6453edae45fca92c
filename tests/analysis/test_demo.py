"""The demo data generator: valid, reproducible, realistic enough to exercise the indicators, and removable.

Every stored row is judged against its form by `analysis.demo_check` (choices, cascades, relevance, constraints,
calculations, evaluated from the forms' own expressions); the checker itself is shown to reject broken rows.
"""

import copy
import datetime as dt
import random
from collections import defaultdict
from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from typer.testing import CliRunner

import sera.settings
from analysis.demo import (
    DEMO_CONNECTION,
    DEMO_SOURCE,
    SCENARIOS,
    DemoExists,
    RealDataPresent,
    clear_demo,
    demo_status,
    generate_demo,
    split_submissions,
)
from analysis.demo_check import FormChecker
from analysis.demo_kobo import KoboShaper
from analysis.demo_partners import GrantReportScenario
from analysis.demo_progress import console_progress
from analysis.demo_world import DemoUnsupported, World, spread
from analysis.demo_xpath import Context, Unsupported, evaluate, holds, parse, to_string
from catalogue.model import Catalogue
from catalogue.store import load_catalogue
from catalogue.validation import read_catalogue
from sera.cli import app as cli
from sera.settings import get_settings
from sync.connections import ConnectionProblem, ConnectionSpec, add_connection, link_form
from sync.normalize import kobo_record
from sync.service import targets
from sync.store import upsert_records
from sync.tables import Connection, RemoteForm, Submission

FORMS = {"attendance", "commune_support", "feedback", "grant_report", "training_test"}


@pytest.fixture(scope="module")
def prim2() -> Catalogue:
    return read_catalogue(sera.settings.DEFAULT_CATALOGUE)


@pytest.fixture(scope="module")
def world(prim2: Catalogue) -> World:
    return World(prim2)


def stored(session: Session) -> dict[str, list[Submission]]:
    """Demo submissions by form id, in `_id` order."""
    rows: dict[str, list[Submission]] = defaultdict(list)
    query = (
        select(RemoteForm.form_id, Submission)
        .join(RemoteForm, col(RemoteForm.id) == Submission.remote_form_id)
        .join(Connection, col(Connection.id) == RemoteForm.connection_id)
        .where(Connection.name == DEMO_CONNECTION)
        .order_by(col(Submission.remote_seq))
    )
    for form_id, submission in session.exec(query):
        rows[form_id].append(submission)
    return rows


def snapshot(session: Session) -> list[tuple[Any, ...]]:
    """Everything a demo run decides, without the local bookkeeping times."""
    return [
        (form_id, s.root_id, s.remote_seq, s.instance_id, s.form_version, s.submitted_at, s.content_hash, s.data)
        for form_id, rows in sorted(stored(session).items())
        for s in rows
    ]


def person(data: dict[str, Any]) -> tuple[str, ...]:
    """Attendance identifiers as the engine normalises them (case and spacing do not make a new person)."""
    keys = ("person/first_name", "person/last_name", "person/birth_year", "person/phone")
    return tuple(" ".join(str(data.get(key, "")).lower().split()) for key in keys)


def quarter(day: str) -> str:
    date = dt.date.fromisoformat(day)
    return f"{date.year}Q{(date.month - 1) // 3 + 1}"


# --- pure parts -----------------------------------------------------------------------------------------------


def test_the_split_follows_the_shares_capacities_and_gives_every_form_some() -> None:
    shares = {kind.form_id: kind.share for kind in SCENARIOS}
    capacities: dict[str, int | None] = {"grant_report": 70, "commune_support": 118, "training_test": 20_000}
    for total in (5, 60, 3000, 1_000_000):
        counts = split_submissions(total, shares, capacities)
        assert sum(counts.values()) == total
        assert min(counts.values()) >= 1
        assert max(counts.values()) == counts["attendance"]
        assert all(counts[form] <= cap for form, cap in capacities.items() if cap is not None)
    assert split_submissions(1_000_000, shares, capacities)["grant_report"] == 70
    assert spread(3, [1.0] * 12) == [0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0]  # a few sessions span the whole year
    assert sum(spread(1000, [0.5, 2.0, 1.0])) == 1000


def test_the_xpath_subset_evaluates_like_a_phone_and_refuses_the_rest() -> None:
    answers = {"q": "2026Q3", "plan": 0.0, "spent": 5.0, "partner": "ORI-01"}
    context = Context(resolve=answers.__getitem__, today=dt.date(2026, 10, 12))
    assert to_string(evaluate(parse("concat(substr(${q}, 0, 4), '-', substr(${q}, 5, 6))"), context)) == "2026-3"
    assert to_string(evaluate(parse("round(100 * 17 div 40, 1)"), context)) == "42.5"  # half up, not to even
    assert to_string(evaluate(parse("if(${plan} > 0, round(${spent} div ${plan}, 1), '')"), context)) == ""
    days = parse("int(decimal-date-time(today()) - decimal-date-time(date('2026-09-30')))")
    assert to_string(evaluate(days, context)) == "12"
    assert holds("not(selected('a none', 'none') and count-selected('a none') > 1)", context) is False
    assert holds("regex('+33612345678', '^[+]?[0-9]{9,15}$')", context)
    filtered = Context(resolve=answers.__getitem__, column={"partner": "ORI-01"}.__getitem__)
    assert holds("partner = ${partner}", filtered)
    with pytest.raises(Unsupported):
        parse("pulldata('x', 'y', 'z', ${q})")


def test_the_checker_rejects_what_a_phone_would_refuse(world: World) -> None:
    """Each broken copy of a valid row is caught: the checker is not a rubber stamp."""
    form = world.form("attendance")
    checker = FormChecker(world.lookup, form)
    shaper = KoboShaper(world, form, remote_id="demo-attendance", version="v1", base_url="https://x.invalid", seed=1)
    scenario = next(kind for kind in SCENARIOS if kind.form_id == "attendance")(world, 1)
    rows = [shaper.row(draft, 1 + i, random.Random(i)) for i, draft in enumerate(scenario.drafts(40))]
    valid = next(
        row
        for row in rows
        if row.get("consent") == "yes" and "person/age" in row and row["services_received/referred"] == "no"
    )
    assert checker.problems(valid) == []
    breakages = {
        "not a choice": {"person/sex": "x"},
        "filtered out": {"activity/grant": "AAP1-03" if valid["activity/grant"] != "AAP1-03" else "AAP1-01"},
        "breaks the constraint": {"person/age": "130"},
        "calculation gives": {"person/age_band": "y60_plus" if valid["person/age_band"] != "y60_plus" else "y0_17"},
        "not relevant": {"services_received/referral_service": "health_facility"},
        "a note has no value": {"no_consent_note": "x"},
        "unknown key": {"person/nickname": "Fifi"},
    }
    for expected, change in breakages.items():
        broken = {**copy.deepcopy(valid), **change}
        assert any(expected in problem for problem in checker.problems(broken)), expected
    missing = {key: value for key, value in valid.items() if key != "person/sex"}
    assert any("required but missing" in problem for problem in checker.problems(missing))


# --- stored demo data (both databases) ------------------------------------------------------------------------


def test_every_stored_answer_is_one_the_form_accepts(session: Session, prim2: Catalogue, world: World) -> None:
    report = generate_demo(session, prim2, submissions=400, seed=11, batch=64)
    session.commit()
    rows = stored(session)
    assert set(rows) == FORMS
    assert {f.form_id: f.submissions for f in report.forms} == {form: len(items) for form, items in rows.items()}
    assert report.submissions == 400
    checkers = {form.id: FormChecker(world.lookup, form) for form in prim2.forms}
    problems = [
        f"{form_id} {s.remote_id}: {problem}"
        for form_id, items in rows.items()
        for s in items
        for problem in checkers[form_id].problems(s.data)
    ]
    assert problems == []
    every = [s for items in rows.values() for s in items]
    assert {s.source for s in every} == {DEMO_SOURCE}
    assert len({s.remote_seq for s in every}) == len(every)  # Kobo `_id`s are unique on the (demo) server
    assert any(row.data.get("period_report/reached") for row in rows["grant_report"])
    assert any(row.data.get("service_users") for row in rows["commune_support"])
    assert any("meta/deprecatedID" in row.data for row in rows["feedback"])  # complaints updated after receipt
    offline = [
        s
        for s in rows["attendance"]
        if "activity/activity_date" in s.data
        and s.submitted_at is not None
        and (s.submitted_at.date() - dt.date.fromisoformat(s.data["activity/activity_date"])).days > 20
    ]
    assert offline  # some phones stayed offline for weeks: the activity date, not the upload, places them


def test_partners_report_each_quarter_mostly_on_time_with_gaps(world: World) -> None:
    scenario = GrantReportScenario(world, 2026)
    dues = scenario.schedule()
    assert {due.grant.code for due in dues if due.report_type == "start"} == {grant.code for grant in world.grants}
    assert sum(1 for due in dues if due.report_type == "final") == len(world.grants)
    periods = [due for due in dues if due.quarter is not None]
    on_time = sum(1 for due in periods if (due.entered - due.reference).days <= 30) / len(periods)
    assert 0.6 < on_time < 0.95  # R1.2-2 counts reports within 30 days of the quarter's end
    gaps = 0
    for grant in world.grants:
        reported = [due.quarter for due in periods if due.grant is grant]
        expected = scenario.reporting_quarters(grant)
        assert reported[-1] == expected[-1]  # the final report always comes
        gaps += len(expected) - len(reported)
    assert 1 <= gaps <= len(world.grants)  # a few quarters never reported, for the quality checks to find


def drafted(world: World, form_id: str, count: int, seed: int) -> list[dict[str, Any]]:
    """A form's rows straight from its scenario, without a database (the storage tests cover storing them)."""
    scenario = next(kind for kind in SCENARIOS if kind.form_id == form_id)(world, seed)
    shaper = KoboShaper(world, scenario.form, remote_id=f"demo-{form_id}", version="v", base_url="https://x", seed=seed)
    ids = random.Random(seed)
    return [shaper.row(draft, 1 + n, ids) for n, draft in enumerate(scenario.drafts(count))]


def test_people_come_back_across_quarters_and_tests_pair_up(world: World) -> None:
    attendance = [row for row in drafted(world, "attendance", 1200, 5) if row.get("consent") == "yes"]
    quarters: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for row in attendance:
        quarters[person(row)].add(quarter(row["activity/activity_date"]))
    assert 1.8 < len(attendance) / len(quarters) < 3.2  # about 2.4 contacts per person, as the targets plan
    assert sum(1 for seen in quarters.values() if len(seen) > 1) > len(quarters) / 10
    assert any(row["person/last_name"].isupper() for row in attendance)  # normalisation has work to do
    sexes = list({person(row): row["person/sex"] for row in attendance}.values())
    assert 0.4 < sexes.count("female") / len(sexes) < 0.65
    tests = [row for row in drafted(world, "training_test", 400, 5) if row.get("consent") == "yes"]
    moments: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for row in tests:
        moments[tuple(row[f"participant/{name}"] for name in ("first_name", "last_name", "birth_year"))].add(
            row["session/test_moment"]
        )
    assert sum(1 for seen in moments.values() if seen == {"pre", "post"}) > len(moments) / 2
    pre = [int(row["score_total"]) for row in tests if row["session/test_moment"] == "pre"]
    post = [int(row["score_total"]) for row in tests if row["session/test_moment"] == "post"]
    assert 2 < sum(post) / len(post) - sum(pre) / len(pre) < 4.5  # the knowledge gain R2.2-2 measures


def test_the_same_seed_gives_the_same_rows_and_another_seed_others(session: Session, prim2: Catalogue) -> None:
    first_report = generate_demo(session, prim2, submissions=300, seed=7)
    session.commit()
    first = snapshot(session)
    assert clear_demo(session) == first_report.submissions == len(first) == 300
    generate_demo(session, prim2, submissions=300, seed=7, batch=37)  # batches do not change the data
    session.commit()
    assert snapshot(session) == first
    clear_demo(session)
    generate_demo(session, prim2, submissions=300, seed=8)
    other = snapshot(session)
    assert len(other) == 300
    assert {row[6] for row in other}.isdisjoint({row[6] for row in first})


def _legacy_real_connection(session: Session) -> Connection:
    """A real connection beside demo data, as a database from before the guard may hold (add_connection refuses)."""
    real = Connection(name="terrain", platform="kobo", url="https://kf.example.org", secret_env="SERA_KOBO_TOKEN")
    session.add(real)
    session.flush()
    return real


def test_sync_never_targets_the_demo_connection(session: Session, engine: Engine, prim2: Catalogue) -> None:
    generate_demo(session, prim2, submissions=60, seed=3)
    link_form(session, _legacy_real_connection(session), "attendance", "aBcD1234")
    session.commit()
    assert [(t.connection.name, t.remote_form.form_id) for t in targets(engine)] == [("terrain", "attendance")]
    assert targets(engine, connection=DEMO_CONNECTION) == []


def test_clear_removes_the_demo_and_nothing_else(session: Session, prim2: Catalogue) -> None:
    report = generate_demo(session, prim2, submissions=120, seed=4)
    remote = link_form(session, _legacy_real_connection(session), "attendance", "aBcD1234")
    assert remote.id is not None
    rows = [{"_id": n, "meta/instanceID": f"uuid:real-{n}", "_submission_time": "2027-01-05T10:00:00"} for n in (1, 2)]
    upsert_records(session, remote.id, [kobo_record(row) for row in rows], run_id=None, source="poll")
    session.commit()
    assert demo_status(session) is not None
    assert clear_demo(session) == report.submissions == 120
    session.commit()
    assert demo_status(session) is None
    assert [c.name for c in session.exec(select(Connection))] == ["terrain"]
    assert [r.remote_id for r in session.exec(select(RemoteForm))] == ["aBcD1234"]
    assert session.exec(select(func.count(col(Submission.id)))).one() == 2
    assert clear_demo(session) == 0


def test_it_refuses_to_run_twice_or_over_a_real_connection_named_demo(session: Session, prim2: Catalogue) -> None:
    generate_demo(session, prim2, submissions=30, seed=1)
    with pytest.raises(DemoExists, match="30 submissions, seed 1"):
        generate_demo(session, prim2, submissions=30, seed=2)
    clear_demo(session)
    add_connection(session, ConnectionSpec(name=DEMO_CONNECTION, platform="kobo", url="https://kf.example.org"))
    with pytest.raises(DemoUnsupported, match="rename it"):
        generate_demo(session, prim2, submissions=30, seed=2)


def test_demo_and_real_connections_are_never_loaded_together(session: Session, prim2: Catalogue) -> None:
    generate_demo(session, prim2, submissions=30, seed=1)
    for spec in (
        ConnectionSpec(name="terrain", platform="kobo", url="https://kf.example.org"),
        ConnectionSpec(name="central", platform="odk", url="https://c.example.org", project_id=1, email="a@b.org"),
    ):
        with pytest.raises(ConnectionProblem, match="run `sera demo clear` first"):
            add_connection(session, spec)
    assert clear_demo(session) == 30
    add_connection(session, ConnectionSpec(name="terrain", platform="kobo", url="https://kf.example.org"))
    with pytest.raises(RealDataPresent, match="terrain"):
        generate_demo(session, prim2, submissions=30, seed=1)
    assert demo_status(session) is None


def test_cli_generates_summarises_refuses_and_clears(
    database_url: str, session: Session, prim2: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERA_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        missing = runner.invoke(cli, ["demo", "--submissions", "40"])
        assert missing.exit_code == 1
        assert "sera catalogue load" in missing.output
        load_catalogue(session, prim2, "test")
        session.commit()
        made = runner.invoke(cli, ["demo", "--submissions", "40", "--seed", "9"])
        assert made.exit_code == 0, made.output
        assert "attendance: " in made.output  # plain progress lines when stdout is not a terminal
        assert "40 demo submissions (seed 9)" in made.output
        again = runner.invoke(cli, ["demo"])
        assert again.exit_code == 1
        assert "sera demo clear" in again.output
        kobo = ["connections", "add", "kobo", "terrain", "--url", "https://kf.example.org"]
        refused = runner.invoke(cli, kobo)
        assert refused.exit_code == 1 and "demo data is loaded" in refused.output
        assert "run `sera demo clear` first" in refused.output
        cleared = runner.invoke(cli, ["demo", "clear"])
        assert cleared.exit_code == 0
        assert "removed 40 demo submissions" in cleared.output
        added = runner.invoke(cli, kobo)
        assert added.exit_code == 0, added.output
        mixed = runner.invoke(cli, ["demo", "--submissions", "40"])
        assert mixed.exit_code == 1 and "real connection(s) terrain exist" in mixed.output
        assert demo_status(session) is None
    finally:
        get_settings.cache_clear()


def test_plain_progress_prints_each_form_end_and_tenths_of_large_runs() -> None:
    lines: list[str] = []
    with console_progress(200_000, lines.append, terminal=False) as progress:
        for done in range(0, 150_001, 1000):
            progress("attendance", done, 150_000)
        progress("feedback", 9000, 9000)
    assert lines[0] == "attendance: 15,000/150,000"
    assert lines[-2:] == ["attendance: 150,000/150,000", "feedback: 9,000/9,000"]
    assert len(lines) == 11
