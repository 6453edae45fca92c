"""The shipped PRIM 2 catalogue: every one of its indicators computes from a few hand-made submissions per form."""

from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from analysis.compute import compute
from analysis.tables import Fact, IndicatorValue
from analysis.targets import Status, assess
from catalogue.model import Catalogue
from catalogue.validation import read_catalogue
from sera.settings import DEFAULT_CATALOGUE
from tests.analysis.builders import SECRET, Store, all_values

ATTENDANCE = {
    "consent": "yes",
    "partner": "ORI-01",
    "grant": "AAP1-01",
    "first_name": "Fatou",
    "last_name": "Diallo",
    "birth_year": 1995,
    "phone": "0612345678",
    "sex": "female",
    "age": 31,
    "age_band": "y25_34",
    "profile": "tcn",
    "region": "02",
    "province": "02.113",
    "commune": "02.113.01.01",
    "services": ["information", "legal"],
    "referred": "no",
}


@pytest.fixture(scope="module")
def prim2() -> Catalogue:
    return read_catalogue(Path(DEFAULT_CATALOGUE))


def fill(store: Store) -> dict[str, str]:
    """Two or three submissions per form, on both platforms, that feed every PRIM 2 indicator."""
    roots = {
        "fatou_q4": store.put(
            "attendance",
            ATTENDANCE | {"activity_date": "2026-10-05", "activity_type": "legal_admin", "referred": "yes"},
            platform="kobo",
        ),
        "fatou_q1": store.put(
            "attendance",
            ATTENDANCE
            | {
                "activity_date": "2027-01-20",
                "activity_type": "individual_followup",
                "referral_outcome": "accessed",
                "phone": "+212 6 12 34 56 78",
            },
            platform="odk",
        ),
        "karim": store.put(
            "attendance",
            ATTENDANCE
            | {
                "activity_date": "2027-02-02",
                "activity_type": "economic",
                "first_name": "Karim",
                "sex": "male",
                "phone": None,
                "profile": "returnee",
                "grant": "AAP1-03",
                "partner": None,
                "region": "09",
                "province": None,
                "commune": "09.001.01.01",
            },
            platform="kobo",
        ),
    }
    start = {
        "partner": "DIA-01",
        "grant": "AAP1-07",
        "project_region": "09",
        "report_type": "start",
        "reference_date": "2026-11-05",
        "grant_amount_eur": 70000,
        "duration_months": 18,
        "reformulation_support": ["budget", "gender"],
        "organisation_kind": "diaspora_association",
        "partner_led_by_woman": "yes",
    }
    store.put("grant_report", start, platform="odk")
    quarterly = {
        "partner": "DIA-01",
        "grant": "AAP1-07",
        "project_region": "09",
        "report_type": "quarterly",
        "reporting_quarter": "2026Q4",
        "quarter_end": "2026-12-31",
        "reference_date": "2026-12-31",
        "days_after_quarter_end": 21,
        "activities_done": ["training", "awareness"],
        "sessions_count": 6,
        "collective_activities": "yes",
        "budget_planned_eur": 20000,
        "budget_executed_eur": 15000,
        "gender_approach": "yes",
        "leaders_female": 2,
        "leaders_male": 3,
        "leaders_total": 5,
        "capitalisation_products": 1,
    }
    reached = [
        {"reached_sex": "female", "reached_profile": "tcn", "reached_age_band": "y18_24", "reached_count": 12},
        {"reached_sex": "male", "reached_profile": "host", "reached_age_band": "y25_34", "reached_count": 8},
    ]
    store.put("grant_report", quarterly, {"reached": reached}, platform="kobo")
    visit = {
        "visit_date": "2026-12-10",
        "region": "02",
        "province": "02.411",
        "commune": "02.411.01.23",
        "institution_type": "commune",
        "institution": "COM-OUJDA",
        "support_type": ["mou", "training"],
        "agreement_signed": "yes",
        "agreement_date": "2026-11-02",
        "service_operational": "yes",
        "plan_integrates": "yes",
        "protocol_formalised": "yes",
        "staff_trained_female": 3,
        "staff_trained_male": 2,
    }
    users = [{"user_sex": "female", "user_profile": "tcn", "user_count": 14}]
    store.put("commune_support", visit, {"service_users": users}, platform="kobo")
    trainee = {
        "consent": "yes",
        "session_code": "ORI-2026-01",
        "training_module": "migration_rights",
        "first_name": "Nadia",
        "last_name": "Amrani",
        "birth_year": 1988,
        "sex": "female",
        "institution_type": "commune",
        "region": "02",
        "province": "02.411",
    }
    store.put(
        "training_test",
        trainee | {"training_date": "2026-11-16", "test_moment": "pre", "score_total": 4, "score_pre": 4},
        platform="odk",
    )
    store.put(
        "training_test",
        trainee | {"training_date": "2026-11-18", "test_moment": "post", "score_total": 8, "score_post": 8},
        platform="kobo",
    )
    store.put(
        "feedback",
        {
            "date_received": "2026-12-01",
            "channel": "phone",
            "feedback_type": "complaint",
            "anonymous": "yes",
            "complainant_sex": "female",
            "complainant_profile": "tcn",
            "complainant_age_band": "y25_34",
            "region": "02",
            "partner": "ORI-01",
            "category": "access_services",
            "description": "Attente trop longue",
            "resolution_status": "resolved",
            "resolution_date": "2026-12-11",
            "resolution_days": 10,
        },
        platform="odk",
    )
    return roots


def test_every_prim2_indicator_computes(session: Session, prim2: Catalogue) -> None:
    store = Store(session, prim2)
    roots = fill(store)
    report = compute(session, prim2, person_key_secret=SECRET)
    session.commit()
    assert report.mode == "full" and report.cells_changed > 0
    totals = {
        v.indicator: v
        for v in session.exec(
            select(IndicatorValue).where(col(IndicatorValue.period) == "LOP", col(IndicatorValue.dims_key) == "")
        )
    }
    assert sorted(totals) == sorted(i.code for i in prim2.indicators)
    assert len(totals) == 27
    assert all(v.value is not None for v in totals.values()), {c: v for c, v in totals.items() if v.value is None}
    expected = {
        "R1.3-1": 2,  # Fatou (twice, two ways of writing her phone) and Karim
        "R1.3-2": 3,
        "OS-1": 1,
        "OS-2": 100.0,
        "R1.3-3": 20,
        "R1.3-5": 50.0,
        "R1.3-6": 1,
        "R1-2": 40.0,
        "R1.2-1": 75.0,
        "R2-2": 14,
        "R2.2-2": 4.0,
        "R2.2-3": 100.0,
        "R2.3-1": 1,
        "RT.1-2": 100.0,
    }
    assert {code: totals[code].value for code in expected} == expected
    # Karim's partner is derived from his grant (AAP1-03 belongs to SM-01).
    by_partner = {
        v.dims_key: v.value
        for v in session.exec(
            select(IndicatorValue).where(
                col(IndicatorValue.indicator) == "R1.3-1",
                col(IndicatorValue.period) == "LOP",
                col(IndicatorValue.grouping) == "partner",
            )
        )
    }
    assert by_partner == {"partner=ORI-01": 1, "partner=SM-01": 1}
    for indicator in prim2.indicators:
        assessment = assess(indicator, "LOP", totals[indicator.code].value)
        assert assessment.status in set(Status)
    # An edit then an incremental run gives what a full run gives.
    store.put(
        "attendance", ATTENDANCE | {"activity_date": "2027-04-02", "activity_type": "health"}, root=roots["fatou_q4"]
    )
    compute(session, prim2, person_key_secret=SECRET)
    session.commit()
    incremental = all_values(session)
    assert compute(session, prim2, person_key_secret=SECRET, full=True).cells_changed == 0
    session.commit()
    assert all_values(session) == incremental


def test_prim2_facts_keep_no_identifier_and_derive_parents(session: Session, prim2: Catalogue) -> None:
    store = Store(session, prim2)
    fill(store)
    compute(session, prim2, person_key_secret=SECRET)
    session.commit()
    facts = session.exec(select(Fact).where(col(Fact.form_id) == "attendance")).all()
    assert len(facts) == 3
    for fact in facts:
        stored = repr((fact.values, fact.dims, fact.organisation))
        assert "Fatou" not in stored and "Diallo" not in stored and "0612345678" not in stored
        assert fact.person_key is not None and len(fact.person_key) == 64
    karim = next(f for f in facts if f.dims["sex"] == "male")
    assert (karim.dims["province"], karim.dims["region"], karim.dims["partner"]) == ("09.001", "09", "SM-01")
    assert karim.period == "2027Q1" and karim.organisation is None
    assert len({f.person_key for f in facts}) == 2  # Fatou's two sheets give one key
    repeat_rows = session.exec(select(Fact).where(col(Fact.form_id) == "grant_report")).all()
    assert sorted((f.row_index, f.repeat) for f in repeat_rows) == [
        (0, None),
        (0, None),
        (1, "period_report/reached"),
        (2, "period_report/reached"),
    ]


def test_prim2_definitions_say_how_the_engine_makes_lop(prim2: Catalogue) -> None:
    """The catalogue's words agree with the engine's LOP rules (README, "Time aggregation"): a `latest` LOP adds
    up each reporter's last report, not the last quarter's value; a `sum` of distinct units counts each once."""
    for indicator in prim2.indicators:
        definition = indicator.definition.fr
        if indicator.time_aggregation.value == "latest":
            assert "fait foi" not in definition and "(dernier trimestre)" not in definition, indicator.code
            assert "pour chaque partenaire dans chaque région" in definition, indicator.code
            assert "لكل شريك في كل جهة" in indicator.definition.ar, indicator.code
        distinct = indicator.measure.aggregation.value in ("distinct", "distinct_people")
        if indicator.time_aggregation.value == "sum" and distinct:
            assert "la valeur du programme est la somme des trimestres" not in definition, indicator.code
            assert "une seule fois dans la valeur du programme" in definition, indicator.code


def test_a_grant_with_two_start_sheets_counts_in_two_quarters_and_once_in_lop(
    session: Session, prim2: Catalogue
) -> None:
    """R1.1-1 as its definition says: each grant in the quarter of its start sheet, once over the programme."""
    store = Store(session, prim2)
    start = {
        "partner": "DIA-01",
        "project_region": "09",
        "report_type": "start",
        "grant_amount_eur": 70000,
        "duration_months": 18,
        "organisation_kind": "diaspora_association",
    }
    store.put("grant_report", start | {"grant": "AAP1-07", "reference_date": "2026-11-05"})
    store.put("grant_report", start | {"grant": "AAP1-08", "reference_date": "2026-11-06"})
    store.put("grant_report", start | {"grant": "AAP1-07", "reference_date": "2027-02-01"}, platform="odk")
    compute(session, prim2, person_key_secret=SECRET)
    session.commit()
    cells = {
        v.period: v.value
        for v in session.exec(
            select(IndicatorValue).where(col(IndicatorValue.indicator) == "R1.1-1", col(IndicatorValue.dims_key) == "")
        )
    }
    assert cells == {"2026Q4": 2, "2027Q1": 1, "LOP": 2}
