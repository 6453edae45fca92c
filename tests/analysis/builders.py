"""Test material for the indicator engine: a small catalogue, and submissions shaped as Kobo or ODK Central send them.

Submissions go into the store through the sync layer (`upsert_records` with `kobo_record`/`odk_record`), so the
engine reads exactly what a sync would have written.
"""

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from sqlmodel import Session, col, select

from analysis.facts import locate_questions
from analysis.tables import IndicatorValue
from catalogue.model import Catalogue, FormSpec
from catalogue.validation import consistency_problems
from sync.connections import ConnectionSpec, add_connection, link_form
from sync.normalize import kobo_record, odk_record
from sync.store import tombstone, upsert_records

SECRET = "test-person-key-secret"

_TEXT = {"fr": "Texte", "ar": "نص"}


def _t(fr: str) -> dict[str, str]:
    return {"fr": fr, "ar": "نص"}


def indicator(
    code: str,
    form: str,
    measure: dict[str, Any],
    time_aggregation: str,
    disaggregations: list[str],
    *,
    measure_type: str = "number",
    direction: str = "increase",
    targets: list[dict[str, Any]] | None = None,
    baseline: float = 0,
    tolerance: float | None = None,
) -> dict[str, Any]:
    """An indicator of the test catalogue; only what the engine reads varies."""
    base: dict[str, Any] = {"value": baseline, "date": "2026-01-01", "source": _t("Démarrage")}
    if measure_type == "percentage":
        base.update(numerator=0, denominator=0)
    return {
        "code": code,
        "result": "R1",
        "name": _t(code),
        "definition": _t(code),
        "unit": _t("unités"),
        "measure_type": measure_type,
        "direction": direction,
        "frequency": "quarterly",
        "data_source": _TEXT,
        "collection_method": _TEXT,
        "responsible": _TEXT,
        "baseline": base,
        "targets": targets or [],
        "disaggregations": disaggregations,
        "time_aggregation": time_aggregation,
        "measure": {"form": form, **measure},
        **({"on_track_tolerance": tolerance} if tolerance is not None else {}),
    }


def _q(name: str, qtype: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": qtype, "label": _t(name), **extra}


FORMS: list[dict[str, Any]] = [
    {
        "id": "attendance",
        "title": _t("Présence"),
        "audience": "field_staff",
        "activity_date": "activity_date",
        "person_identifiers": ["full_name", "phone"],
        "organisation": "partner",
        "dimensions": {"sex": "sex", "province": "province", "grant": "grant"},
        "questions": [
            _q("consent", "select_one", choices="yes_no"),
            {
                "name": "details",
                "type": "group",
                "label": _t("Activité"),
                "questions": [
                    _q("activity_date", "date"),
                    _q("partner", "select_one", choices="dimension:partner"),
                    _q("grant", "select_one", choices="dimension:grant"),
                ],
            },
            {
                "name": "person",
                "type": "group",
                "label": _t("Personne"),
                "questions": [
                    _q("full_name", "text", pii=True),
                    _q("phone", "text", pii=True),
                    _q("sex", "select_one", choices="dimension:sex"),
                    _q("age", "integer"),
                    _q("province", "select_one", choices="dimension:province"),
                ],
            },
            _q("services", "select_multiple", choices="services"),
            _q("referred", "select_one", choices="yes_no"),
            _q("accessed", "select_one", choices="yes_no"),
            {"name": "is_referred", "type": "calculate", "calculation": "${referred}"},
        ],
    },
    {
        "id": "report",
        "title": _t("Rapport"),
        "audience": "partner",
        "activity_date": "report_date",
        "organisation": "partner",
        "dimensions": {"partner": "partner", "region": "region", "sex": "reached_sex"},
        "questions": [
            _q("report_date", "date"),
            _q("partner", "select_one", choices="dimension:partner"),
            _q("region", "select_one", choices="dimension:region"),
            _q("planned", "decimal"),
            _q("executed", "decimal"),
            {
                "name": "activities",
                "type": "group",
                "label": _t("Activités"),
                "questions": [
                    {
                        "name": "reached",
                        "type": "repeat",
                        "label": _t("Touchés"),
                        "questions": [
                            _q("reached_sex", "select_one", choices="dimension:sex"),
                            _q("reached_count", "integer"),
                        ],
                    }
                ],
            },
        ],
    },
    {
        "id": "test",
        "title": _t("Test"),
        "audience": "trainer",
        "activity_date": "test_date",
        "person_identifiers": ["full_name"],
        "dimensions": {"sex": "sex"},
        "questions": [
            _q("test_date", "date"),
            _q("full_name", "text", pii=True),
            _q("sex", "select_one", choices="dimension:sex"),
            _q("moment", "select_one", choices="moments"),
            _q("score", "decimal"),
            {"name": "score_pre", "type": "calculate", "calculation": "if(${moment} = 'pre', ${score}, '')"},
            {"name": "score_post", "type": "calculate", "calculation": "if(${moment} = 'post', ${score}, '')"},
        ],
    },
]

PEOPLE = "distinct_people"

INDICATORS: list[dict[str, Any]] = [
    indicator(
        "PEOPLE",
        "attendance",
        {"aggregation": PEOPLE, "filter": "consent = 'yes'"},
        "unique_people",
        ["sex", "region"],
        targets=[{"period": "LOP", "value": 4}, {"period": "2026Q1", "value": 2}],
    ),
    indicator("CONTACTS", "attendance", {"aggregation": "count"}, "sum", ["sex", "partner", "region"]),
    indicator("CONTACTS_CUM", "attendance", {"aggregation": "count"}, "cumulative", ["sex"]),
    indicator("CONTACTS_LATEST", "attendance", {"aggregation": "count"}, "latest", ["sex"]),
    indicator("PEOPLE_SUM", "attendance", {"aggregation": PEOPLE}, "sum", ["sex"]),
    indicator(
        "REFERRAL",
        "attendance",
        {
            "aggregation": "ratio",
            "numerator": {"aggregation": PEOPLE, "filter": "accessed = 'yes'"},
            "denominator": {"aggregation": PEOPLE, "filter": "referred = 'yes'"},
        },
        "cumulative",
        ["sex"],
        measure_type="percentage",
    ),
    indicator(
        "SHARE_REFERRED",
        "attendance",
        {"aggregation": "mean", "question": "is_referred"},
        "sum",
        ["sex"],
        measure_type="yes_no",
    ),
    indicator("AGE", "attendance", {"aggregation": "mean", "question": "age"}, "sum", ["sex"]),
    indicator(
        "SERVICES",
        "attendance",
        {"aggregation": "count", "filter": "selected(services, 'legal')"},
        "sum",
        [],
    ),
    indicator(
        "EXEC",
        "report",
        {
            "aggregation": "ratio",
            "numerator": {"aggregation": "sum", "question": "executed"},
            "denominator": {"aggregation": "sum", "question": "planned"},
        },
        "sum",
        ["partner"],
        measure_type="percentage",
    ),
    indicator(
        "EXEC_LATEST",
        "report",
        {
            "aggregation": "ratio",
            "numerator": {"aggregation": "sum", "question": "executed"},
            "denominator": {"aggregation": "sum", "question": "planned"},
        },
        "latest",
        ["partner"],
        measure_type="percentage",
    ),
    indicator("REACHED", "report", {"aggregation": "sum", "question": "reached_count"}, "sum", ["sex", "partner"]),
    indicator("PARTNERS", "report", {"aggregation": "distinct", "question": "partner"}, "cumulative", ["region"]),
    indicator("GAIN", "test", {"aggregation": "gain", "pre": "score_pre", "post": "score_post"}, "cumulative", ["sex"]),
]


def catalogue_data(indicators: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "sera_catalogue": 1,
        "programme": {
            "code": "TEST",
            "title": _t("Programme de test"),
            "start": "2026-01-01",
            "end": "2027-12-31",
            "first_period": "2026Q1",
            "last_period": "2027Q4",
        },
        "revision": {"date": "2026-01-01", "reason": "initial", "rationale": "Catalogue de test du moteur."},
        "results": [
            {"code": "OG", "level": "impact", "title": _t("Objectif")},
            {"code": "R1", "level": "outcome", "parent": "OG", "title": _t("Résultat")},
        ],
        "dimensions": [
            {
                "code": "sex",
                "name": _t("Sexe"),
                "values": [{"code": c, "label": _t(c)} for c in ("female", "male", "unknown")],
            },
            {
                "code": "region",
                "name": _t("Région"),
                "reference": "morocco-admin/regions",
                "values": [{"code": "unknown", "label": _t("Inconnue")}],
            },
            {
                "code": "province",
                "name": _t("Province"),
                "parent": "region",
                "reference": "morocco-admin/provinces",
                "values": [{"code": "unknown", "parent": "unknown", "label": _t("Inconnue")}],
            },
            {
                "code": "partner",
                "name": _t("Partenaire"),
                "values": [{"code": c, "label": _t(c)} for c in ("P1", "P2", "unknown")],
            },
            {
                "code": "grant",
                "name": _t("Subvention"),
                "parent": "partner",
                "values": [
                    {"code": "G1", "parent": "P1", "label": _t("G1")},
                    {"code": "G2", "parent": "P2", "label": _t("G2")},
                    {"code": "unknown", "parent": "unknown", "label": _t("Inconnue")},
                ],
            },
        ],
        "choice_lists": [
            {"name": "yes_no", "choices": [{"code": "yes", "label": _t("Oui")}, {"code": "no", "label": _t("Non")}]},
            {
                "name": "moments",
                "choices": [{"code": "pre", "label": _t("Pré")}, {"code": "post", "label": _t("Post")}],
            },
            {
                "name": "services",
                "choices": [{"code": c, "label": _t(c)} for c in ("legal", "health", "other")],
            },
        ],
        "indicators": INDICATORS if indicators is None else indicators,
        "forms": FORMS,
    }


def engine_catalogue(indicators: list[dict[str, Any]] | None = None) -> Catalogue:
    """The test catalogue, checked by the same rules as `sera catalogue validate`."""
    catalogue = Catalogue.model_validate(catalogue_data(indicators))
    problems = consistency_problems(catalogue)
    assert not problems, problems
    return catalogue


def form_of(catalogue: Catalogue, form_id: str) -> FormSpec:
    return next(form for form in catalogue.forms if form.id == form_id)


# --- raw submissions ---------------------------------------------------------------------------------------


def _kobo_text(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def kobo_answers(form: FormSpec, answers: Mapping[str, Any], repeats: Mapping[str, list[dict[str, Any]]]) -> dict:
    """Answers as Kobo writes them: flat XPath keys, repeats keyed by full XPaths, every value a string."""
    located = locate_questions(form)
    out: dict[str, Any] = {}
    for name, value in answers.items():
        if value is not None:
            out["/".join(located[name].path)] = _kobo_text(value)
    for repeat, items in repeats.items():
        out["/".join(located[repeat].path)] = [
            {"/".join(located[n].path): _kobo_text(v) for n, v in item.items() if v is not None} for item in items
        ]
    return out


def _odk_value(value: Any, qtype: str) -> Any:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if qtype == "integer":
        return int(value)
    if qtype == "decimal":
        return float(value)
    return str(value)


def _set(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        target = target.setdefault(part, {})
    target[path[-1]] = value


def odk_answers(form: FormSpec, answers: Mapping[str, Any], repeats: Mapping[str, list[dict[str, Any]]]) -> dict:
    """Answers as ODK Central's OData gives them: groups nested, numbers as numbers, repeats with short keys."""
    located = locate_questions(form)
    out: dict[str, Any] = {}
    for name, value in answers.items():
        if value is not None:
            _set(out, located[name].path, _odk_value(value, located[name].type))
    for repeat, items in repeats.items():
        base = located[repeat].path
        rows = []
        for i, item in enumerate(items):
            row: dict[str, Any] = {"__id": f"r{i}"}
            for n, v in item.items():
                if v is not None:
                    _set(row, located[n].path[len(base) :], _odk_value(v, located[n].type))
            rows.append(row)
        _set(out, base, rows)
    return out


class Store:
    """Submissions of the test catalogue's forms, written through the sync layer, on one Kobo and one ODK server."""

    def __init__(self, session: Session, catalogue: Catalogue) -> None:
        self.session = session
        self.catalogue = catalogue
        kobo = add_connection(session, ConnectionSpec(name="kobo", platform="kobo", url="http://kobo.test"))
        odk = add_connection(
            session,
            ConnectionSpec(name="odk", platform="odk", url="http://odk.test", project_id=1, email="a@b.test"),
        )
        self.remote: dict[tuple[str, str], int] = {}
        for form in catalogue.forms:
            for platform, connection in (("kobo", kobo), ("odk", odk)):
                remote = link_form(session, connection, form.id, f"{platform}-{form.id}")
                assert remote.id is not None
                self.remote[(platform, form.id)] = remote.id
        self.seq = 0
        self.edits: dict[str, int] = {}
        session.commit()

    def put(
        self,
        form_id: str,
        answers: Mapping[str, Any],
        repeats: Mapping[str, list[dict[str, Any]]] | None = None,
        *,
        platform: str = "kobo",
        root: str | None = None,
        submitted: str = "2026-05-03T06:20:11",
    ) -> str:
        """Store a new submission, or a new version of `root`; returns its root id."""
        form = form_of(self.catalogue, form_id)
        remote = self.remote[(platform, form_id)]
        if platform == "kobo":
            fresh = uuid.uuid4().hex
            root_id = root or f"uuid:{fresh}"
            if root is None:
                self.seq += 1
                self.edits[root_id] = self.seq
            row = {
                "_id": self.edits[root_id],
                "_uuid": fresh,
                "meta/instanceID": f"uuid:{fresh}",
                "meta/rootUuid": root_id,
                "_submission_time": submitted,
                "__version__": "v1",
                "_validation_status": {},
                **kobo_answers(form, answers, repeats or {}),
            }
            record = kobo_record(row)
        else:
            root_id = root or f"uuid:{uuid.uuid4().hex}"
            row = {
                "__id": root_id,
                "__system": {
                    "submissionDate": submitted + "Z",
                    "updatedAt": None,
                    "formVersion": "v1",
                    "reviewState": None,
                    "edits": 0,
                },
                "meta": {"instanceID": f"uuid:{uuid.uuid4().hex}"},
                **odk_answers(form, answers, repeats or {}),
            }
            record = odk_record(row)
        upsert_records(self.session, remote, [record], run_id=None, source="poll")
        self.session.commit()
        return root_id

    def delete(self, form_id: str, root_id: str, *, platform: str = "kobo") -> None:
        tombstone(self.session, self.remote[(platform, form_id)], [root_id], run_id=None)
        self.session.commit()


def attend(
    store: Store,
    name: str,
    day: str,
    *,
    sex: str = "female",
    phone: str | None = None,
    province: str | None = "02.113",
    grant: str | None = "G1",
    platform: str = "kobo",
    submitted: str = "2026-05-03T06:20:11",
    **more: object,
) -> str:
    answers = {
        "consent": "yes",
        "activity_date": day,
        "partner": "P1" if grant == "G1" else "P2",
        "grant": grant,
        "full_name": name,
        "phone": phone,
        "sex": sex,
        "province": province,
        **more,
    }
    return store.put("attendance", answers, platform=platform, submitted=submitted)


def report(store: Store, partner: str, day: str, planned: float, executed: float, **kw: object) -> str:
    answers = {"report_date": day, "partner": partner, "region": "02" if partner == "P1" else "09"}
    answers |= {"planned": planned, "executed": executed}
    return store.put("report", answers, **kw)  # type: ignore[arg-type]


def values(session: Session, code: str, period: str | None = None) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Stored cells of an indicator: (period, dims_key) → (value, numerator, denominator, n)."""
    query = select(IndicatorValue).where(col(IndicatorValue.indicator) == code)
    if period is not None:
        query = query.where(col(IndicatorValue.period) == period)
    return {(v.period, v.dims_key): (v.value, v.numerator, v.denominator, v.n) for v in session.exec(query).all()}


def value(session: Session, code: str, period: str, dims: str = "") -> float | None:
    """One stored value; KeyError when the cell does not exist."""
    return values(session, code, period)[(period, dims)][0]


def all_values(session: Session) -> dict[tuple[str, str, str], tuple[Any, ...]]:
    rows = session.exec(select(IndicatorValue)).all()
    return {(v.indicator, v.period, v.dims_key): (v.value, v.numerator, v.denominator, v.n) for v in rows}
