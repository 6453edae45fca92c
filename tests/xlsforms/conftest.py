"""A small catalogue covering what forms use: groups, repeats, selects from dimensions and from media files
(cascades), calculations, constraints, relevance, and indicators measured on the forms."""

import copy
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import pytest

from catalogue.model import Catalogue
from xlsforms.build import BuildResult, build_forms


def text(fr: str, ar: str) -> dict[str, str]:
    return {"fr": fr, "ar": ar}


UNKNOWN = {"code": "unknown", "label": text("Inconnu", "غير معروف")}

BASE: dict[str, Any] = {
    "sera_catalogue": 1,
    "programme": {
        "code": "PRIM2",
        "title": text("PRIM 2", "بريم 2"),
        "start": "2026-03-01",
        "end": "2028-10-31",
        "first_period": "2026Q1",
        "last_period": "2028Q4",
    },
    "revision": {"date": "2026-03-15", "reason": "initial", "rationale": "Première édition"},
    "results": [{"code": "IMP", "level": "impact", "title": text("Impact", "الأثر")}],
    "dimensions": [
        {
            "code": "sex",
            "name": text("Sexe", "الجنس"),
            "values": [
                {"code": "female", "label": text("Femme", "امرأة")},
                {"code": "male", "label": text("Homme", "رجل")},
                UNKNOWN,
            ],
        },
        {"code": "region", "name": text("Région", "الجهة"), "reference": "morocco-admin/regions", "values": [UNKNOWN]},
        {
            "code": "province",
            "name": text("Province", "الإقليم"),
            "parent": "region",
            "reference": "morocco-admin/provinces",
            "values": [UNKNOWN],
        },
        {
            "code": "commune",
            "name": text("Commune", "الجماعة"),
            "parent": "province",
            "reference": "morocco-admin/communes",
            "values": [UNKNOWN],
        },
        {
            "code": "partner",
            "name": text("Partenaire", "الشريك"),
            "values": [
                {"code": "asso-oujda", "label": text("Association Oujda", "جمعية وجدة")},
                {"code": "asso-agadir", "label": text("Association Agadir", "جمعية أكادير")},
                UNKNOWN,
            ],
        },
        {
            "code": "grant",
            "name": text("Subvention", "المنحة"),
            "parent": "partner",
            "values": [
                {"code": "G-001", "label": text("Subvention 1", "المنحة 1"), "parent": "asso-oujda"},
                {"code": "G-002", "label": text("Subvention 2", "المنحة 2"), "parent": "asso-agadir"},
                UNKNOWN,
            ],
        },
    ],
    "choice_lists": [
        {
            "name": "yes_no",
            "choices": [
                {"code": "yes", "label": text("Oui", "نعم")},
                {"code": "no", "label": text("Non", "لا")},
            ],
        }
    ],
    "indicators": [],
    "forms": [],
}

TRAINING = {
    "id": "training_attendance",
    "title": text("Présence aux formations", "الحضور في التكوينات"),
    "audience": "field_staff",
    "activity_date": "session_date",
    "person_identifiers": ["participant_name", "participant_phone"],
    "dimensions": {"commune": "commune", "sex": "participant_sex"},
    "instance_name": "concat(${commune}, ' ', ${session_date})",
    "choice_lists": [
        {
            "name": "topic",
            "choices": [
                {"code": "gender", "label": text("Genre", "النوع الاجتماعي")},
                {"code": "migration", "label": text("Migration", "الهجرة")},
            ],
        },
        {
            "name": "quiz",
            "choices": [
                {"code": "a", "label": text("Réponse A", "الجواب أ"), "score": 1},
                {"code": "b", "label": text("Réponse B", "الجواب ب"), "score": 0},
            ],
        },
    ],
    "questions": [
        {
            "name": "session_date",
            "type": "date",
            "label": text("Date de la séance", "تاريخ الحصة"),
            "hint": text("Le jour de la formation", "يوم التكوين"),
            "required": True,
            "required_message": text("La date est obligatoire", "التاريخ إجباري"),
            "constraint": ". <= today()",
            "constraint_message": text("Pas de date future", "لا تاريخ في المستقبل"),
        },
        {
            "name": "place",
            "type": "group",
            "label": text("Lieu", "المكان"),
            "appearance": "field-list",
            "questions": [
                {
                    "name": "region",
                    "type": "select_one",
                    "choices": "dimension:region",
                    "label": text("Région", "الجهة"),
                },
                {
                    "name": "province",
                    "type": "select_one_from_file",
                    "file": "provinces.csv",
                    "choice_filter": "region=${region}",
                    "label": text("Province", "الإقليم"),
                },
                {
                    "name": "commune",
                    "type": "select_one_from_file",
                    "file": "communes.csv",
                    "choice_filter": "province=${province}",
                    "required": True,
                    "label": text("Commune", "الجماعة"),
                },
            ],
        },
        {"name": "topic", "type": "select_one", "choices": "topic", "label": text("Thème", "الموضوع")},
        {
            "name": "topic_note",
            "type": "note",
            "relevant": "${topic} = 'gender'",
            "label": text("Rappel : approche genre", "تذكير: مقاربة النوع"),
        },
        {
            "name": "participants",
            "type": "repeat",
            "label": text("Participant·e", "المشارك(ة)"),
            "questions": [
                {
                    "name": "participant_name",
                    "type": "text",
                    "label": text("Nom", "الاسم"),
                    "required": True,
                    "pii": True,
                },
                {
                    "name": "participant_phone",
                    "type": "text",
                    "label": text("Téléphone", "الهاتف"),
                    "constraint": "regex(., '^0[5-7][0-9]{8}$')",
                    "constraint_message": text("10 chiffres", "10 أرقام"),
                    "pii": True,
                },
                {
                    "name": "participant_sex",
                    "type": "select_one",
                    "choices": "dimension:sex",
                    "label": text("Sexe", "الجنس"),
                },
                {
                    "name": "participant_age",
                    "type": "integer",
                    "label": text("Âge", "السن"),
                    "constraint": ". >= 15 and . <= 99",
                    "constraint_message": text("Entre 15 et 99 ans", "بين 15 و 99 سنة"),
                },
                {"name": "quiz_answer", "type": "select_one", "choices": "quiz", "label": text("Quiz", "اختبار")},
                {
                    "name": "quiz_score",
                    "type": "calculate",
                    "calculation": "instance('quiz')/root/item[name=${quiz_answer}]/score",
                },
            ],
        },
        {"name": "participant_count", "type": "calculate", "calculation": "count(${participant_name})"},
    ],
}

GRANT = {
    "id": "grant_monitoring",
    "title": text("Suivi des subventions", "تتبع المنح"),
    "audience": "partner",
    "activity_date": "report_date",
    "organisation": "partner",
    "dimensions": {"grant": "grant"},
    "questions": [
        {"name": "report_date", "type": "date", "label": text("Date du rapport", "تاريخ التقرير")},
        {
            "name": "partner",
            "type": "select_one_from_file",
            "file": "partners.csv",
            "label": text("Partenaire", "الشريك"),
            "required": True,
        },
        {
            "name": "grant",
            "type": "select_one_from_file",
            "file": "grants.csv",
            "choice_filter": "partner=${partner}",
            "label": text("Subvention", "المنحة"),
            "required": True,
        },
        {
            "name": "beneficiaries",
            "type": "integer",
            "label": text("Bénéficiaires", "المستفيدون"),
            "constraint": ". >= 0",
            "constraint_message": text("Nombre positif", "عدد موجب"),
        },
        {
            "name": "women",
            "type": "integer",
            "label": text("dont femmes", "منهم نساء"),
            "constraint": ". <= ${beneficiaries}",
            "constraint_message": text("Pas plus que le total", "ليس أكثر من المجموع"),
            "relevant": "${beneficiaries} > 0",
        },
        {
            "name": "gender_approach",
            "type": "select_one",
            "choices": "yes_no",
            "label": text("Approche genre ?", "مقاربة النوع؟"),
        },
        {
            "name": "women_share",
            "type": "calculate",
            "calculation": "if(${beneficiaries} > 0, ${women} div ${beneficiaries}, 0)",
        },
    ],
}


def _indicator(code: str, measure: dict[str, Any], **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "code": code,
        "result": "IMP",
        "name": text(f"Indicateur {code}", f"مؤشر {code}"),
        "definition": text("Définition", "تعريف"),
        "unit": text("personnes", "أشخاص"),
        "measure_type": "number",
        "direction": "increase",
        "frequency": "quarterly",
        "data_source": text("Formulaire", "استمارة"),
        "collection_method": text("Collecte mobile", "جمع بالهاتف"),
        "responsible": text("Chargé SERA", "مسؤول التتبع"),
        "baseline": {"value": 0, "date": "2026-03-01", "source": text("Aucune", "لا شيء")},
        "time_aggregation": "sum",
        "measure": measure,
    }
    return base | extra


INDICATORS = [
    _indicator(
        "PEOPLE",
        {"form": "training_attendance", "aggregation": "distinct_people", "filter": "topic = 'gender'"},
        time_aggregation="unique_people",
        disaggregations=["sex", "region"],
    ),
    _indicator(
        "BENEF",
        {"form": "grant_monitoring", "aggregation": "sum", "question": "beneficiaries"},
        disaggregations=["partner"],
    ),
    _indicator(
        "GENDER",
        {
            "form": "grant_monitoring",
            "aggregation": "ratio",
            "numerator": {"aggregation": "count", "filter": "gender_approach = 'yes'"},
            "denominator": {"aggregation": "count"},
        },
        measure_type="percentage",
        time_aggregation="latest",
        baseline={"value": 0, "numerator": 0, "denominator": 1, "date": "2026-03-01", "source": text("-", "-")},
    ),
]


def catalogue_dict() -> dict[str, Any]:
    """A fresh, mutable copy of the test catalogue."""
    data = copy.deepcopy(BASE)
    data["forms"] = [copy.deepcopy(TRAINING), copy.deepcopy(GRANT)]
    data["indicators"] = copy.deepcopy(INDICATORS)
    return data


@pytest.fixture
def data() -> dict[str, Any]:
    return catalogue_dict()


@pytest.fixture
def catalogue() -> Catalogue:
    return Catalogue.model_validate(catalogue_dict())


@pytest.fixture
def make() -> Callable[[dict[str, Any]], Catalogue]:
    return Catalogue.model_validate


# --- reading XForms ---------------------------------------------------------------------------------------

NS = {"h": "http://www.w3.org/1999/xhtml", "x": "http://www.w3.org/2002/xforms", "jr": "http://openrosa.org/javarosa"}
JR = "{http://openrosa.org/javarosa}"


class XForm:
    """An XForm parsed with ElementTree, with the lookups the tests assert on."""

    def __init__(self, xml: str) -> None:
        self.root = ET.fromstring(xml)
        self.model = self.root.find("h:head/x:model", NS)
        assert self.model is not None

    def bind(self, nodeset: str) -> ET.Element:
        found = self.model.findall(f"x:bind[@nodeset='{nodeset}']", NS)
        assert len(found) == 1, f"{len(found)} binds for {nodeset}"
        return found[0]

    def binds(self) -> list[ET.Element]:
        return self.model.findall("x:bind", NS)

    def instance(self, instance_id: str) -> ET.Element | None:
        return self.model.find(f"x:instance[@id='{instance_id}']", NS)

    def main_instance(self) -> ET.Element:
        data = self.model.find("x:instance/x:data", NS)
        assert data is not None
        return data

    def control(self, ref: str) -> ET.Element:
        found = [element for element in self.root.iter() if element.get("ref") == ref and "body" not in element.tag]
        assert len(found) == 1, f"{len(found)} controls for {ref}"
        return found[0]

    def itemset(self, ref: str) -> ET.Element:
        itemset = self.control(ref).find("x:itemset", NS)
        assert itemset is not None, f"no itemset for {ref}"
        return itemset

    def translations(self) -> dict[str, dict[str, str]]:
        """Language → text id → the (long form) value."""
        result: dict[str, dict[str, str]] = {}
        for translation in self.model.findall("x:itext/x:translation", NS):
            texts = {}
            for text_element in translation.findall("x:text", NS):
                value = text_element.find("x:value", NS)
                texts[text_element.get("id", "")] = "".join(value.itertext()) if value is not None else ""
            result[translation.get("lang", "")] = texts
        return result

    def itext_references(self) -> set[str]:
        """Every text id that binds and the body point to with jr:itext('...')."""
        refs: set[str] = set()
        for element in self.root.iter():
            for value in element.attrib.values():
                refs.update(re.findall(r"jr:itext\('([^']+)'\)", value))
        return refs


@pytest.fixture
def parse_xform() -> Callable[[str], XForm]:
    return XForm


@pytest.fixture(scope="session")
def base_build(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    """The test catalogue built once, ODK Validate included, for tests that only read the result."""
    return build_forms(Catalogue.model_validate(catalogue_dict()), tmp_path_factory.mktemp("build"))
