"""Incremental compute equals full compute, whatever inserts, edits and deletions came in between.

An incremental run changes cells by what changed rows add or remove (sums and counts by the rows themselves,
distinct counts and gains by the rows of the people concerned, a `latest` LOP by the reporters' last values),
so the property test runs over a catalogue with every time aggregation for every kind of measure.
"""

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete
from sqlmodel import Session, select

from analysis.compute import compute
from analysis.queries import Fetcher
from analysis.tables import ComputeState, Fact, IndicatorInput, IndicatorValue
from catalogue.model import Catalogue
from sync.tables import Submission
from tests.analysis.builders import INDICATORS, SECRET, Store, all_values, attend, engine_catalogue, indicator
from tests.analysis.conftest import TODAY, run

QUARTER_STARTS = ["2026-01-", "2026-04-", "2026-07-", "2026-10-"]
NAMES = ["Ana", "Ben", "Chloé", "Driss"]
EXAMPLES = int(os.environ.get("SERA_TEST_HYPOTHESIS_EXAMPLES", "12"))
"""Small for CI; raise it (`SERA_TEST_HYPOTHESIS_EXAMPLES=500`) for a deeper search."""

days = st.builds(lambda q, d: f"{q}{d:02d}", st.sampled_from(QUARTER_STARTS), st.integers(1, 28))
sexes = st.sampled_from(["female", "male", None])
yes_no = st.sampled_from(["yes", "no", None])

attendance = st.fixed_dictionaries(
    {
        "consent": st.sampled_from(["yes", "yes", "no"]),
        "activity_date": days,
        "grant": st.sampled_from(["G1", "G2", None]),
        "full_name": st.sampled_from(NAMES),
        "sex": sexes,
        "age": st.one_of(st.none(), st.integers(15, 60)),
        "province": st.sampled_from(["02.113", "09.001", None]),
        "referred": yes_no,
        "accessed": yes_no,
        "is_referred": yes_no,
        "services": st.sampled_from([["legal"], ["legal", "health"], ["other"], None]),
    }
).map(lambda a: ("attendance", a, {}))
report = st.tuples(
    st.fixed_dictionaries(
        {
            "report_date": days,
            "partner": st.sampled_from(["P1", "P2"]),
            "region": st.sampled_from(["02", "09"]),
            "planned": st.integers(1, 50),
            "executed": st.integers(0, 50),
        }
    ),
    st.lists(st.fixed_dictionaries({"reached_sex": sexes, "reached_count": st.integers(1, 9)}), max_size=2),
).map(lambda pair: ("report", pair[0], {"reached": pair[1]}))
test = st.tuples(days, st.sampled_from(NAMES), sexes, st.sampled_from(["pre", "post"]), st.integers(0, 10)).map(
    lambda t: (
        "test",
        {"test_date": t[0], "full_name": t[1], "sex": t[2], "moment": t[3], "score": t[4], f"score_{t[3]}": t[4]},
        {},
    )
)
submission = st.one_of(attendance, report, test)
operation = st.one_of(
    st.tuples(st.just("insert"), submission, st.sampled_from(["kobo", "odk"])),
    st.tuples(st.just("edit"), st.integers(0, 20), submission),
    st.tuples(st.just("delete"), st.integers(0, 20)),
)
batches = st.lists(st.lists(operation, min_size=1, max_size=4), min_size=2, max_size=4)
"""Changes arrive in batches, with an incremental run after each: later runs start from earlier results."""

SUMS = {
    "aggregation": "ratio",
    "numerator": {"aggregation": "sum", "question": "executed"},
    "denominator": {"aggregation": "sum", "question": "planned"},
}
GAIN = {"aggregation": "gain", "pre": "score_pre", "post": "score_post"}
PEOPLE = {"aggregation": "distinct_people"}
PARTNER = {"aggregation": "distinct", "question": "partner"}
EVERY_AGGREGATION = [
    *INDICATORS,
    indicator(
        "PEOPLE_WIDE", "attendance", {"aggregation": "distinct_people"}, "unique_people", ["sex", "grant", "region"]
    ),
    indicator(
        "PEOPLE_CUM", "attendance", {"aggregation": "distinct_people"}, "cumulative", ["sex", "partner", "region"]
    ),
    indicator("PEOPLE_LATEST", "attendance", PEOPLE, "latest", ["sex", "region"]),
    indicator("AGE_CUM", "attendance", {"aggregation": "mean", "question": "age"}, "cumulative", ["sex"]),
    indicator("AGE_LATEST", "attendance", {"aggregation": "mean", "question": "age"}, "latest", ["sex", "region"]),
    indicator("EXEC_CUM", "report", SUMS, "cumulative", ["region", "partner"], measure_type="percentage"),
    indicator("EXEC_REPORTERS", "report", SUMS, "latest", ["region", "partner"], measure_type="percentage"),
    indicator("PARTNERS_SUM", "report", PARTNER, "sum", ["region"]),
    indicator("PARTNERS_LATEST", "report", PARTNER, "latest", ["region"]),
    indicator(
        "REACHED_LATEST", "report", {"aggregation": "sum", "question": "reached_count"}, "latest", ["sex", "region"]
    ),
    indicator("GAIN_SUM", "test", GAIN, "sum", ["sex"]),
    indicator("GAIN_LATEST", "test", GAIN, "latest", ["sex"]),
]
"""The test catalogue's indicators and one more for each (time aggregation, measure kind) it lacks: unique
people over three dimensions, distinct people to date and latest, means to date and latest, ratios of sums to
date and by reporter, distinct answers per quarter and latest, repeat sums latest, gains per quarter and latest."""


@pytest.fixture
def every_aggregation(session: Session) -> Store:
    return Store(session, engine_catalogue(EVERY_AGGREGATION))


def _reset(session: Session) -> None:
    for table in (IndicatorValue, IndicatorInput, Fact, ComputeState, Submission):
        session.execute(delete(table))
    session.commit()


def _apply(store: Store, live: list[tuple[str, str, str]], op: tuple[Any, ...]) -> None:
    match op:
        case ("insert", (form, answers, repeats), platform):
            live.append((form, platform, store.put(form, answers, repeats, platform=platform)))
        case ("edit", index, (form, answers, repeats)) if live:
            old_form, platform, root = live[index % len(live)]
            if old_form == form:
                store.put(form, answers, repeats, platform=platform, root=root)
        case ("delete", index) if live:
            form, platform, root = live.pop(index % len(live))
            store.delete(form, root, platform=platform)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(changes=batches)
def test_incremental_equals_full(
    session: Session, every_aggregation: Store, changes: list[list[tuple[Any, ...]]]
) -> None:
    store, catalogue = every_aggregation, every_aggregation.catalogue
    _reset(session)
    compute(session, catalogue, person_key_secret=SECRET, today=TODAY)
    session.commit()
    live: list[tuple[str, str, str]] = []
    for batch in changes:
        for op in batch:
            _apply(store, live, op)
        report = compute(session, catalogue, person_key_secret=SECRET, today=TODAY)
        session.commit()
        assert report.mode == "incremental"
    incremental = all_values(session)
    full = run(session, catalogue, full=True)
    assert all_values(session) == incremental
    assert full.cells_changed == 0  # the cells' totals too, not only their values


def test_only_submissions_written_since_the_last_run_are_read(
    session: Session, catalogue: Catalogue, store: Store
) -> None:
    for name in NAMES:
        store.put("attendance", {"consent": "yes", "activity_date": "2026-02-01", "full_name": name})
    first = compute(session, catalogue, person_key_secret=SECRET, today=TODAY)
    session.commit()
    assert (first.mode, first.submissions) == ("full", 4)
    state = session.exec(select(ComputeState)).one()
    assert state.change_mark is not None
    store.put("attendance", {"consent": "yes", "activity_date": "2026-05-01", "full_name": "Eve"})
    second = compute(session, catalogue, person_key_secret=SECRET, today=TODAY)
    session.commit()
    assert (second.mode, second.submissions) == ("incremental", 1)
    assert second.recomputed["CONTACTS"] == ["2026Q2", "LOP"]
    assert second.recomputed["CONTACTS_CUM"][0] == "2026Q2" and "2026Q1" not in second.recomputed["CONTACTS_CUM"]
    nothing = compute(session, catalogue, person_key_secret=SECRET, today=TODAY)
    session.commit()
    assert (nothing.stamped, nothing.submissions, nothing.cells_changed, nothing.recomputed) == (0, 0, 0, {})


def test_an_incremental_run_reads_only_the_change(
    session: Session, catalogue: Catalogue, store: Store, five_contacts: dict[str, str], monkeypatch: Any
) -> None:
    """No aggregate over an indicator's rows: cells change by the changed rows and their people's rows alone."""
    report_root = store.put(
        "report", {"report_date": "2026-06-30", "partner": "P2", "region": "09", "planned": 4, "executed": 3}
    )
    run(session, catalogue)

    def refuse(*_args: Any) -> None:
        raise AssertionError("an incremental run aggregated an indicator's rows")

    monkeypatch.setattr(Fetcher, "__init__", refuse)
    attend(store, "Aïcha Benali", "2026-11-02", phone="06 12 34 56 78")  # someone already reached, in a new quarter
    store.put("test", {"test_date": "2026-12-01", "full_name": "Omar Idrissi", "sex": "male", "score_post": 7})
    store.delete("attendance", five_contacts["omar_2"])
    store.put(
        "report",
        {"report_date": "2026-12-31", "partner": "P2", "region": "09", "planned": 4, "executed": 4},
        root=report_root,
    )
    assert run(session, catalogue).mode == "incremental"
    incremental = all_values(session)
    monkeypatch.undo()
    assert run(session, catalogue, full=True).cells_changed == 0
    assert all_values(session) == incremental


def test_a_large_change_recomputes_the_indicator_whole(
    session: Session, catalogue: Catalogue, store: Store, monkeypatch: Any
) -> None:
    """Past a share of its rows changed, an indicator is recomputed from all its rows, with the same result."""
    attend(store, "Ana", "2026-02-01")
    run(session, catalogue)
    monkeypatch.setattr("analysis.compute.RECOMPUTE_FLOOR", 2)
    for name, day in [("Ben", "2026-05-01"), ("Chloé", "2026-08-01"), ("Ana", "2026-11-01")]:
        attend(store, name, day)
    second = run(session, catalogue)
    assert second.mode == "incremental" and len(second.recomputed["CONTACTS_CUM"]) == 9  # every period
    incremental = all_values(session)
    assert run(session, catalogue, full=True).cells_changed == 0
    assert all_values(session) == incremental


def test_a_changed_catalogue_or_secret_forces_a_full_run(session: Session, catalogue: Catalogue, store: Store) -> None:
    store.put("attendance", {"consent": "yes", "activity_date": "2026-02-01", "full_name": "Ana"})
    assert run(session, catalogue).mode == "full"
    assert run(session, catalogue).mode == "incremental"
    other = compute(session, catalogue, person_key_secret="another secret")
    session.commit()
    assert other.mode == "full"


def test_grouping_sets_and_plain_group_by_give_the_same_cells(
    session: Session, catalogue: Catalogue, store: Store, five_contacts: dict[str, str], monkeypatch: Any
) -> None:
    """PostgreSQL computes every grouping in one GROUPING SETS scan; the plain path must agree cell for cell."""
    attend(store, "Omar Idrissi", "2026-11-20", sex="male", province="09.001", grant="G2", referred="yes")
    store.put("report", {"report_date": "2026-06-30", "partner": "P2", "region": "09", "planned": 4, "executed": 3})
    store.put("test", {"test_date": "2026-03-01", "full_name": "Omar Idrissi", "sex": "male", "score_pre": 3})
    store.put("test", {"test_date": "2026-05-01", "full_name": "Omar Idrissi", "sex": "male", "score_post": 7})
    run(session, catalogue, full=True)
    first = all_values(session)
    original = Fetcher.__init__

    def plain(self: Fetcher, *args: Any) -> None:
        original(self, *args)
        self.sets = False

    monkeypatch.setattr(Fetcher, "__init__", plain)
    assert run(session, catalogue, full=True).cells_changed == 0
    assert all_values(session) == first
