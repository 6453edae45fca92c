"""Golden tests: small worlds whose every figure was computed by hand, on SQLite and PostgreSQL.

Each test is one pain point of M&E tools (me-anchors §4): unique people across periods, Σnum/Σden across
partners, cumulative vs per-period vs latest (with several reporters), restatements after an edit, deletions,
offline submissions.
"""

import pytest
from sqlmodel import Session

from catalogue.model import Catalogue
from tests.analysis.builders import (
    INDICATORS,
    Store,
    all_values,
    attend,
    engine_catalogue,
    indicator,
    report,
    value,
    values,
)
from tests.analysis.conftest import run

LOP = "LOP"


def test_unique_people_count_each_person_once_over_the_programme(
    session: Session, catalogue: Catalogue, five_contacts: dict[str, str]
) -> None:
    run(session, catalogue)
    # Quarters count people reached for the first time; they add up to LOP.
    assert values(session, "PEOPLE", "2026Q1")[("2026Q1", "")] == (2.0, None, None, 3)
    assert values(session, "PEOPLE", "2026Q3")[("2026Q3", "")] == (1.0, None, None, 2)
    assert value(session, "PEOPLE", LOP) == 3  # Aïcha in Q1 and Q3 is one person
    assert value(session, "PEOPLE", LOP, "sex=female") == 2
    assert value(session, "PEOPLE", "2026Q3", "sex=female") == 1  # Sara; Aïcha was counted in Q1
    # Region derived from the province; no province gives `unknown`.
    assert value(session, "PEOPLE", LOP, "region=02") == 1
    assert value(session, "PEOPLE", LOP, "region=09") == 1
    assert value(session, "PEOPLE", LOP, "region=unknown") == 1
    assert value(session, "PEOPLE", LOP, "region=02;sex=female") == 1
    # People reached in the period (not deduplicated across periods): Aïcha counts in Q1 and in Q3.
    assert value(session, "PEOPLE_SUM", "2026Q1") == 2
    assert value(session, "PEOPLE_SUM", "2026Q3") == 2
    assert value(session, "PEOPLE_SUM", LOP) == 3
    # Contacts are a flow: 3 + 2.
    assert value(session, "CONTACTS", "2026Q1") == 3
    assert value(session, "CONTACTS", LOP) == 5
    # Partner derived from the grant.
    assert value(session, "CONTACTS", LOP, "partner=P2") == 2
    assert value(session, "CONTACTS", LOP, "partner=P2;region=09;sex=male") == 2


def test_cumulative_per_period_and_latest(session: Session, catalogue: Catalogue, five_contacts: dict) -> None:
    run(session, catalogue)
    cumulative = {period: cell[0] for (period, dims), cell in values(session, "CONTACTS_CUM").items() if not dims}
    # Carried through Q2, up to the current quarter (the tests' TODAY is in 2026Q3; see test_horizon).
    assert cumulative == {"2026Q1": 3, "2026Q2": 3, "2026Q3": 5, LOP: 5}
    per_period = {period: cell[0] for (period, dims), cell in values(session, "CONTACTS").items() if not dims}
    assert per_period == {"2026Q1": 3, "2026Q3": 2, LOP: 5}
    latest = {period: cell[0] for (period, dims), cell in values(session, "CONTACTS_LATEST").items() if not dims}
    # A stock: each reporter (here each sex) counts with its own latest quarter, women Q3 (2), men Q1 (2).
    assert latest == {"2026Q1": 3, "2026Q3": 2, LOP: 4}
    assert value(session, "CONTACTS_LATEST", LOP, "sex=male") == 2  # the men's latest quarter is Q1
    assert value(session, "CONTACTS_LATEST", LOP, "sex=female") == 2


def test_percentages_are_sums_of_numerators_over_sums_of_denominators(
    session: Session, catalogue: Catalogue, store: Store
) -> None:
    report(store, "P1", "2026-06-30", planned=2, executed=1)
    report(store, "P2", "2026-06-30", planned=40, executed=30)
    run(session, catalogue)
    total = values(session, "EXEC", "2026Q2")[("2026Q2", "")]
    assert total[1:3] == (31.0, 42.0)
    assert total[0] == pytest.approx(73.8095238, abs=1e-6)  # not (50 + 75) / 2 = 62.5
    assert value(session, "EXEC", "2026Q2", "partner=P1") == 50.0
    assert value(session, "EXEC", "2026Q2", "partner=P2") == 75.0
    assert value(session, "EXEC", LOP) == pytest.approx(100 * 31 / 42)


def test_latest_sums_each_reporters_last_value_and_sum_takes_all_rows(
    session: Session, catalogue: Catalogue, store: Store
) -> None:
    report(store, "P1", "2026-03-31", planned=2, executed=1)
    report(store, "P2", "2026-03-31", planned=40, executed=30)
    report(store, "P1", "2026-06-30", planned=5, executed=3)
    run(session, catalogue)
    assert value(session, "EXEC_LATEST", "2026Q1") == pytest.approx(100 * 31 / 42)
    assert value(session, "EXEC_LATEST", "2026Q2") == 60.0  # a quarter is its own rows
    # P1 last reported in Q2 (3/5), P2 in Q1 (30/40): LOP is (3 + 30) / (5 + 40), not P1's Q2 alone.
    assert values(session, "EXEC_LATEST", LOP)[(LOP, "")][1:3] == (33.0, 45.0)
    assert value(session, "EXEC_LATEST", LOP) == pytest.approx(100 * 33 / 45)
    assert value(session, "EXEC_LATEST", LOP, "partner=P1") == 60.0
    assert value(session, "EXEC_LATEST", LOP, "partner=P2") == 75.0
    assert value(session, "EXEC", LOP) == pytest.approx(100 * 34 / 47)


def test_latest_with_several_reporters_per_cell(session: Session) -> None:
    """R1-2's shape: a ratio of sums, disaggregated by region and partner; a reporter is a (region, partner)."""
    reporters = indicator(
        "LEADERS",
        "report",
        {
            "aggregation": "ratio",
            "numerator": {"aggregation": "sum", "question": "executed"},
            "denominator": {"aggregation": "sum", "question": "planned"},
        },
        "latest",
        ["region", "partner"],
        measure_type="percentage",
    )
    catalogue = engine_catalogue([*INDICATORS, reporters])
    store = Store(session, catalogue)

    def put(region: str, partner: str, day: str, planned: float, executed: float) -> None:
        answers = {"report_date": day, "partner": partner, "region": region, "planned": planned, "executed": executed}
        store.put("report", answers)

    put("02", "P1", "2026-03-31", planned=10, executed=4)
    put("02", "P1", "2026-09-30", planned=20, executed=15)  # (02, P1) last reported in Q3
    put("02", "P2", "2026-06-30", planned=8, executed=2)  # (02, P2) in Q2
    put("09", "P2", "2026-03-31", planned=5, executed=5)
    put("09", "P2", "2026-12-31", planned=4, executed=3)  # (09, P2) in Q4
    run(session, catalogue)
    lop = values(session, "LEADERS", LOP)
    assert lop[(LOP, "")] == (62.5, 20.0, 32.0, 3)  # (15 + 2 + 3) / (20 + 8 + 4), not Q4's 3 / 4
    assert lop[(LOP, "region=02")][:3] == (pytest.approx(100 * 17 / 28), 17.0, 28.0)
    assert lop[(LOP, "region=09")][:3] == (75.0, 3.0, 4.0)
    assert lop[(LOP, "partner=P1")][:3] == (75.0, 15.0, 20.0)
    assert lop[(LOP, "partner=P2")][:3] == (pytest.approx(100 * 5 / 12), 5.0, 12.0)  # Q2 in 02, Q4 in 09
    assert lop[(LOP, "partner=P2;region=02")][:3] == (25.0, 2.0, 8.0)
    assert value(session, "LEADERS", "2026Q4") == 75.0  # quarters keep their own rows
    assert value(session, "LEADERS", "2026Q1") == 60.0  # (4 + 5) / (10 + 5)
    # (02, P1) reports again in Q4: it now counts with that report, the others with theirs.
    put("02", "P1", "2026-12-31", planned=10, executed=10)
    assert run(session, catalogue).mode == "incremental"
    assert values(session, "LEADERS", LOP)[(LOP, "")][1:] == (15.0, 22.0, 3)
    assert value(session, "LEADERS", LOP, "partner=P1") == 100.0
    incremental = all_values(session)
    assert run(session, catalogue, full=True).cells_changed == 0
    assert all_values(session) == incremental


def test_an_edit_after_the_quarter_restates_it(
    session: Session, catalogue: Catalogue, store: Store, five_contacts: dict
) -> None:
    run(session, catalogue)
    before = all_values(session)
    # Sara's activity was in fact in Q2, and she is a man: the sheet is corrected months later.
    answers = {"consent": "yes", "activity_date": "2026-05-12", "partner": "P1", "grant": "G1"}
    store.put("attendance", answers | {"full_name": "Sara K", "sex": "male"}, root=five_contacts["sara"])
    report_ = run(session, catalogue)
    assert report_.mode == "incremental" and report_.cells_changed > 0
    assert value(session, "CONTACTS", "2026Q2") == 1
    assert value(session, "CONTACTS", "2026Q3") == 1
    assert value(session, "CONTACTS_CUM", "2026Q2") == 4
    assert value(session, "PEOPLE", "2026Q2", "sex=male") == 1
    assert value(session, "PEOPLE", "2026Q3") == 0  # Aïcha came back in Q3, nobody new
    assert value(session, "PEOPLE", LOP) == 3
    assert all_values(session) != before
    incremental = all_values(session)
    assert run(session, catalogue, full=True).cells_changed == 0
    assert all_values(session) == incremental


def test_a_deleted_submission_is_removed(
    session: Session, catalogue: Catalogue, store: Store, five_contacts: dict
) -> None:
    run(session, catalogue)
    store.delete("attendance", five_contacts["omar_2"])
    run(session, catalogue)
    assert value(session, "CONTACTS", "2026Q1") == 2
    assert value(session, "PEOPLE", LOP, "sex=male") == 1  # Omar is still reached by his other contact
    store.delete("attendance", five_contacts["omar_1"])
    run(session, catalogue)
    assert ("2026Q1", "sex=male") not in values(session, "PEOPLE", "2026Q1")
    assert value(session, "PEOPLE", LOP) == 2
    incremental = all_values(session)
    assert run(session, catalogue, full=True).cells_changed == 0
    assert all_values(session) == incremental


def test_an_offline_submission_counts_in_the_quarter_of_its_activity(
    session: Session, catalogue: Catalogue, store: Store
) -> None:
    attend(store, "Amina", "2026-02-01")
    run(session, catalogue)
    # Collected in June, uploaded in November when the phone came back online.
    attend(store, "Yasmine", "2026-06-15", submitted="2026-11-02T09:00:00")
    run(session, catalogue)
    assert value(session, "CONTACTS", "2026Q2") == 1
    assert not values(session, "CONTACTS", "2026Q4")
    assert value(session, "CONTACTS_CUM", "2026Q2") == 2
    # An activity dated outside the programme's quarters feeds no value (data quality reports it).
    attend(store, "Hors période", "2025-12-30")
    run(session, catalogue)
    assert value(session, "CONTACTS", LOP) == 2


@pytest.mark.parametrize("platform", ["kobo", "odk"])
def test_repeat_rows_are_summed_by_the_repeats_own_sex(
    session: Session, catalogue: Catalogue, store: Store, platform: str
) -> None:
    reached = [
        {"reached_sex": "female", "reached_count": 10},
        {"reached_sex": "male", "reached_count": 5},
        {"reached_sex": "female", "reached_count": 3},
    ]
    store.put(
        "report",
        {"report_date": "2026-06-30", "partner": "P1", "region": "02", "planned": 2, "executed": 1},
        {"reached": reached},
        platform=platform,
    )
    store.put(
        "report",
        {"report_date": "2026-06-30", "partner": "P2", "region": "09", "planned": 40, "executed": 30},
        {"reached": [{"reached_sex": "male", "reached_count": 7}]},
        platform=platform,
    )
    run(session, catalogue)
    assert value(session, "REACHED", "2026Q2") == 25
    assert value(session, "REACHED", "2026Q2", "sex=female") == 13
    assert value(session, "REACHED", "2026Q2", "sex=male") == 12
    assert value(session, "REACHED", "2026Q2", "partner=P1;sex=female") == 13
    assert values(session, "REACHED", "2026Q2")[("2026Q2", "")][3] == 4  # four repeat rows
    # Submission-level measures of the same form ignore the repeat rows.
    assert values(session, "EXEC", "2026Q2")[("2026Q2", "")][1:] == (31.0, 42.0, 2)


def test_kobo_strings_and_odk_numbers_give_the_same_values(
    session: Session, catalogue: Catalogue, store: Store
) -> None:
    def world(platform: str) -> list[str]:
        roots = [
            attend(
                store, "Aïcha", "2026-02-10", platform=platform, age=30, referred="yes", services=["legal", "health"]
            ),
            attend(store, "Omar", "2026-02-11", platform=platform, sex="male", age=25, referred="no"),
        ]
        roots.append(report(store, "P1", "2026-03-31", planned=2.5, executed=1.25, platform=platform))
        roots.append(
            store.put(
                "test",
                {"test_date": "2026-03-02", "full_name": "Aïcha", "moment": "pre", "score": 4, "score_pre": 4},
                platform=platform,
            )
        )
        return roots

    kobo_roots = world("kobo")
    run(session, catalogue)
    from_kobo = all_values(session)
    for root, form in zip(kobo_roots, ["attendance", "attendance", "report", "test"], strict=True):
        store.delete(form, root)
    world("odk")
    run(session, catalogue)
    assert all_values(session) == from_kobo
    assert value(session, "AGE", "2026Q1", "sex=female") == 30
    assert value(session, "SERVICES", "2026Q1") == 1
    assert value(session, "EXEC", "2026Q1") == 50.0


def test_means_shares_distinct_and_gains(session: Session, catalogue: Catalogue, store: Store) -> None:
    # `is_referred` is a calculate: the server sends its value with the answers.
    attend(store, "A", "2026-02-01", age=30, referred="yes", is_referred="yes", accessed="yes")
    attend(store, "B", "2026-02-02", age=40, referred="yes", is_referred="yes")
    attend(store, "C", "2026-02-03", sex="male", age=25, referred="no", is_referred="no")
    attend(store, "B", "2026-05-02", referred="yes", accessed="yes")
    report(store, "P1", "2026-03-31", planned=1, executed=1)
    report(store, "P1", "2026-06-30", planned=1, executed=1)
    report(store, "P2", "2026-06-30", planned=1, executed=1)
    for name, sex, day, moment, score in [
        ("A", "female", "2026-03-10", "pre", 4),
        ("A", "female", "2026-04-10", "post", 8),
        ("B", "male", "2026-05-10", "pre", 5),
        ("B", "male", "2026-05-11", "post", 6),
        ("C", "male", "2026-05-12", "pre", 7),
    ]:
        answers = {"test_date": day, "full_name": name, "sex": sex, "moment": moment, "score": score}
        store.put("test", answers | {f"score_{moment}": score})
    run(session, catalogue)
    assert values(session, "AGE", "2026Q1")[("2026Q1", "sex=female")] == (35.0, 70.0, 2.0, 2)
    share = values(session, "SHARE_REFERRED", "2026Q1")[("2026Q1", "")]
    assert share[1:] == (2.0, 3.0, 3) and share[0] == pytest.approx(200 / 3)
    # Referred people who accessed the service, to date: A of {A, B} in Q1, then B too in Q2.
    assert values(session, "REFERRAL", "2026Q1")[("2026Q1", "")][:3] == (50.0, 1.0, 2.0)
    assert values(session, "REFERRAL", "2026Q2")[("2026Q2", "")][:3] == (100.0, 2.0, 2.0)
    assert {p: c[0] for (p, d), c in values(session, "PARTNERS").items() if not d} == {
        "2026Q1": 1,
        "2026Q2": 2,
        "2026Q3": 2,  # to date, up to the current quarter (TODAY)
        LOP: 2,
    }
    assert value(session, "PARTNERS", "2026Q2", "region=02") == 1
    # Gains pair each person's pre and post scores; C has no post-test; A's pair spans two quarters.
    assert values(session, "GAIN", "2026Q1")[("2026Q1", "")] == (None, 0.0, 0.0, 1)
    assert values(session, "GAIN", "2026Q2")[("2026Q2", "")] == (2.5, 5.0, 2.0, 5)
    assert value(session, "GAIN", LOP, "sex=female") == 4.0
