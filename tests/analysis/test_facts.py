"""Typed facts from raw Kobo and ODK Central JSON, with no database: types, repeats, dimensions, person keys."""

import datetime as dt

import pytest

from analysis.answers import as_date, typed
from analysis.dimensions import DimensionIndex
from analysis.facts import FormPlan, submission_facts
from analysis.identity import normalise, person_key
from analysis.measures import groupings
from catalogue.model import Catalogue, FormSpec
from tests.analysis.builders import engine_catalogue, form_of, indicator, kobo_answers, odk_answers

KEY = b"k"


def plan(catalogue: Catalogue, form_id: str) -> FormPlan:
    return FormPlan.of(catalogue, form_of(catalogue, form_id), DimensionIndex.of(catalogue))


@pytest.mark.parametrize(
    ("raw", "qtype", "expected"),
    [
        ("5", "integer", 5),
        (5, "integer", 5),
        ("5.0", "integer", 5),
        ("abc", "integer", None),
        ("2.5", "decimal", 2.5),
        (3, "decimal", 3.0),
        ("nan", "decimal", None),
        ("02", "calculate", "02"),
        ("7", "calculate", 7),
        ("7.5", "calculate", 7.5),
        ("y18_24", "calculate", "y18_24"),
        ("legal health", "select_multiple", ["legal", "health"]),
        (["legal"], "select_multiple", ["legal"]),
        ("2026-05-03", "date", dt.date(2026, 5, 3)),
        ("", "text", None),
        ("  Oujda ", "text", "Oujda"),
    ],
)
def test_answers_are_typed_by_question_type(raw: object, qtype: str, expected: object) -> None:
    assert typed(raw, qtype) == expected


def test_a_device_datetime_keeps_its_local_day() -> None:
    start = typed("2026-03-31T23:40:00.000+01:00", "start")
    assert as_date(start) == dt.date(2026, 3, 31)  # still Q1 where the activity happened


def test_kobo_strings_and_odk_numbers_give_the_same_facts(catalogue: Catalogue) -> None:
    form = form_of(catalogue, "attendance")
    answers = {
        "consent": "yes",
        "activity_date": "2026-05-04",
        "grant": "G2",
        "full_name": "Aïcha",
        "phone": "0612345678",
        "sex": "female",
        "age": 30,
        "province": "09.001",
        "services": ["legal", "health"],
        "referred": "yes",
        "is_referred": "yes",
    }
    attendance = plan(catalogue, "attendance")
    kobo = submission_facts(kobo_answers(form, answers, {}), attendance, "kobo", KEY)
    odk = submission_facts(odk_answers(form, answers, {}), attendance, "odk", KEY)
    assert kobo == odk
    (fact,) = kobo
    assert fact.period == "2026Q2" and fact.activity_date == dt.date(2026, 5, 4)
    assert fact.values["services"] == ["legal", "health"]
    assert fact.dims == {"sex": "female", "province": "09.001", "region": "09", "grant": "G2", "partner": "P2"}
    assert "full_name" not in fact.values and "phone" not in fact.values  # pii never kept
    assert fact.organisation is None  # the partner question was not answered


def test_repeat_rows_inherit_the_submission_and_read_their_own_answers(catalogue: Catalogue) -> None:
    form = form_of(catalogue, "report")
    answers = {"report_date": "2026-06-30", "partner": "P1", "region": "02", "planned": 10, "executed": 5}
    reached = [{"reached_sex": "female", "reached_count": 3}, {"reached_sex": "robot", "reached_count": 2}]
    report = plan(catalogue, "report")
    for platform, raw in [
        ("kobo", kobo_answers(form, answers, {"reached": reached})),
        ("odk", odk_answers(form, answers, {"reached": reached})),
    ]:
        rows = submission_facts(raw, report, platform, KEY)
        assert [(r.row_index, r.repeat) for r in rows] == [
            (0, None),
            (1, "activities/reached"),
            (2, "activities/reached"),
        ]
        top, first, second = rows
        assert top.dims["sex"] == "unknown" and "reached_count" not in top.values
        assert first.values["reached_count"] == 3 and first.values["planned"] == 10.0
        assert (first.dims["sex"], first.dims["partner"], first.organisation) == ("female", "P1", "P1")
        assert second.dims["sex"] == "unknown"  # not a value of the dimension


def test_a_repeat_inside_a_repeat_makes_one_row_per_inner_instance() -> None:
    form = FormSpec.model_validate(
        {
            "id": "visits",
            "title": {"fr": "Visites", "ar": "زيارات"},
            "audience": "field_staff",
            "activity_date": "day",
            "questions": [
                {"name": "day", "type": "date", "label": {"fr": "Date", "ar": "تاريخ"}},
                {
                    "name": "sites",
                    "type": "repeat",
                    "label": {"fr": "Sites", "ar": "مواقع"},
                    "questions": [
                        {"name": "site", "type": "text", "label": {"fr": "Site", "ar": "موقع"}},
                        {
                            "name": "groups",
                            "type": "repeat",
                            "label": {"fr": "Groupes", "ar": "مجموعات"},
                            "questions": [{"name": "size", "type": "integer", "label": {"fr": "Taille", "ar": "حجم"}}],
                        },
                    ],
                },
            ],
        }
    )
    catalogue = Catalogue.model_validate(
        {
            "sera_catalogue": 1,
            "programme": {
                "code": "X",
                "title": {"fr": "X", "ar": "X"},
                "start": "2026-01-01",
                "end": "2026-12-31",
                "first_period": "2026Q1",
                "last_period": "2026Q4",
            },
            "revision": {"date": "2026-01-01", "reason": "initial", "rationale": "test"},
            "results": [{"code": "R", "level": "impact", "title": {"fr": "R", "ar": "R"}}],
            "forms": [form.model_dump(mode="json")],
            "indicators": [
                indicator(
                    "SIZE", "visits", {"aggregation": "sum", "question": "size", "filter": "site = 'A'"}, "sum", []
                )
            ],
        }
    )
    visits = FormPlan.of(catalogue, form, DimensionIndex.of(catalogue))
    assert visits.row_repeats == (("sites", "groups"),)  # the outer repeat makes no rows of its own
    kobo = {
        "day": "2026-02-02",
        "sites": [
            {"sites/site": "A", "sites/groups": [{"sites/groups/size": "3"}, {"sites/groups/size": "4"}]},
            {"sites/site": "B", "sites/groups": [{"sites/groups/size": "5"}]},
        ],
    }
    odk = {
        "day": "2026-02-02",
        "sites": [
            {"site": "A", "groups": [{"size": 3}, {"size": 4}]},
            {"site": "B", "groups": [{"size": 5}]},
        ],
    }
    for platform, raw in (("kobo", kobo), ("odk", odk)):
        rows = submission_facts(raw, visits, platform, KEY)
        assert [(r.values.get("site"), r.values.get("size")) for r in rows] == [
            (None, None),
            ("A", 3),
            ("A", 4),
            ("B", 5),
        ]


def test_person_keys_survive_spelling_and_phone_formats() -> None:
    assert normalise("  Aïcha   BENALI ") == normalise("aicha benali") == "aicha benali"
    assert normalise("مُحَمَّد") == normalise("محمد")
    assert normalise("06 12-34-56-78") == normalise("+212612345678") == normalise("00212612345678") == "0612345678"
    assert normalise(1990) == normalise("1990") == normalise(1990.0)
    one = person_key(["Aïcha Benali", "06 12 34 56 78"], KEY)
    assert one == person_key(["aicha  benali", "+212 612 345 678"], KEY)
    assert one != person_key(["Aïcha Benali", "06 12 34 56 78"], b"another secret")
    assert one is not None and "aicha" not in one and len(one) == 64
    assert person_key([None, ""], KEY) is None
    assert person_key(["Aïcha", None], KEY) != person_key([None, "Aïcha"], KEY)


def test_dimension_values_derive_parents_and_fall_back_to_unknown(catalogue: Catalogue) -> None:
    index = DimensionIndex.of(catalogue)
    fed = index.fed(form_of(catalogue, "attendance"))
    assert set(fed) == {"sex", "province", "region", "grant", "partner"}
    assert index.resolve(fed, {"province": "02.113", "grant": "G1"})["region"] == "02"
    assert index.resolve(fed, {"province": "99.999", "grant": "G9"}) == {
        "sex": "unknown",
        "province": "unknown",
        "region": "unknown",
        "grant": "unknown",
        "partner": "unknown",
    }
    # An answered parent wins over the one derived from its child.
    assert index.resolve(("region", "province"), {"region": "09", "province": "02.113"})["region"] == "09"


def test_stored_groupings_stay_bounded() -> None:
    assert [len(groupings(k)) for k in range(7)] == [1, 2, 4, 8, 12, 17, 23]
    assert groupings(2) == [(), (0,), (1,), (0, 1)]
    assert (0, 1, 2, 3, 4, 5) in groupings(6)


def test_a_pii_question_read_by_a_measure_is_kept_only_as_a_keyed_hash() -> None:
    extra = indicator("NAMES", "attendance", {"aggregation": "distinct", "question": "full_name"}, "sum", [])
    catalogue = engine_catalogue([extra])
    form = form_of(catalogue, "attendance")
    raw = kobo_answers(form, {"activity_date": "2026-02-02", "full_name": "Aïcha Benali"}, {})
    (fact,) = submission_facts(raw, plan(catalogue, "attendance"), "kobo", KEY)
    hashed = fact.values["full_name"]
    assert hashed.startswith("p:") and "Benali" not in hashed and "aicha" not in hashed
    raw_again = kobo_answers(form, {"activity_date": "2026-02-02", "full_name": " aicha  BENALI"}, {})
    assert submission_facts(raw_again, plan(catalogue, "attendance"), "kobo", KEY)[0].values["full_name"] == hashed
