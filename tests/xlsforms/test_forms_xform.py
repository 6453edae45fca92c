"""The XForms pyxform makes from our rows, asserted with XPath, and each one through ODK Validate."""

from typing import Any

import pytest

from catalogue.model import Catalogue
from xlsforms.build import BuildResult, build_form
from xlsforms.columns import ARABIC, FRENCH
from xlsforms.xform import odk_validate

NS = {"h": "http://www.w3.org/1999/xhtml", "x": "http://www.w3.org/2002/xforms"}
JR = "{http://openrosa.org/javarosa}"
FORM_IDS = ["training_attendance", "grant_monitoring"]
XForm = Any  # conftest.XForm, reached through the parse_xform fixture


@pytest.fixture
def training(base_build: BuildResult, parse_xform) -> XForm:
    return parse_xform(base_build.forms["training_attendance"].xform)


@pytest.fixture
def grant(base_build: BuildResult, parse_xform) -> XForm:
    return parse_xform(base_build.forms["grant_monitoring"].xform)


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_every_form_passes_odk_validate(catalogue: Catalogue, form_id: str) -> None:
    form = next(form for form in catalogue.forms if form.id == form_id)

    assert odk_validate(form_id, build_form(catalogue, form).xform) == []


def test_binds_carry_required_constraint_relevant_and_calculate(training: XForm, grant: XForm) -> None:
    date = training.bind("/data/session_date")
    assert date.get("type") == "date"
    assert date.get("required") == "true()"
    assert date.get(f"{JR}requiredMsg") == "jr:itext('/data/session_date:jr:requiredMsg')"
    assert date.get("constraint") == ". <= today()"
    assert date.get(f"{JR}constraintMsg") == "jr:itext('/data/session_date:jr:constraintMsg')"
    assert training.bind("/data/topic_note").get("relevant") == " /data/topic  = 'gender'"
    assert training.bind("/data/participant_count").get("calculate") == "count( /data/participants/participant_name )"
    assert training.bind("/data/participants/participant_age").get("type") == "int"
    women = grant.bind("/data/women")
    assert women.get("constraint") == ". <=  /data/beneficiaries "
    assert women.get("relevant") == " /data/beneficiaries  > 0"


def test_metadata_is_recorded(training: XForm) -> None:
    preloads = {
        "/data/start": ("timestamp", "start"),
        "/data/end": ("timestamp", "end"),
        "/data/today": ("date", "today"),
        "/data/deviceid": ("property", "deviceid"),
        "/data/username": ("property", "username"),
    }
    for nodeset, (preload, params) in preloads.items():
        bind = training.bind(nodeset)
        assert (bind.get(f"{JR}preload"), bind.get(f"{JR}preloadParams")) == (preload, params)
    assert training.bind("/data/meta/instanceID").get(f"{JR}preload") == "uid"
    assert (
        training.bind("/data/meta/instanceName").get("calculate")
        == "concat( /data/place/commune , ' ',  /data/session_date )"
    )
    data = training.main_instance()
    assert data.get("id") == "training_attendance"
    assert data.get("version") == training.root.find("h:head/x:model/x:instance/x:data", NS).get("version")
    assert [child.tag.split("}")[1] for child in data][:5] == ["start", "end", "today", "deviceid", "username"]


def test_select_from_file_reads_a_csv_instance_with_a_cascade(training: XForm) -> None:
    communes = training.instance("communes")
    assert communes is not None and communes.get("src") == "jr://file-csv/communes.csv"
    itemset = training.itemset("/data/place/commune")
    assert itemset.get("nodeset") == "instance('communes')/root/item[province= /data/place/province ]"
    assert itemset.find("x:value", NS).get("ref") == "name"
    assert itemset.find("x:label", NS).get("ref") == "label"
    assert (
        training.itemset("/data/place/province").get("nodeset")
        == "instance('provinces')/root/item[region= /data/place/region ]"
    )


def test_dimension_select_lists_the_dimension_values_translated(training: XForm) -> None:
    itemset = training.itemset("/data/participants/participant_sex")
    assert itemset.get("nodeset") == "instance('dimension_sex')/root/item"
    assert itemset.find("x:label", NS).get("ref") == "jr:itext(itextId)"
    items = training.instance("dimension_sex").findall("x:root/x:item", NS)
    assert [item.find("x:name", NS).text for item in items] == ["female", "male", "unknown"]
    texts = training.translations()
    ids = [item.find("x:itextId", NS).text for item in items]
    assert [texts[FRENCH][i] for i in ids] == ["Femme", "Homme", "Inconnu"]
    assert [texts[ARABIC][i] for i in ids] == ["امرأة", "رجل", "غير معروف"]


def test_repeat_and_group_structure(training: XForm) -> None:
    repeat = training.root.find(".//x:repeat[@nodeset='/data/participants']", NS)
    assert repeat is not None
    assert {child.get("ref") for child in repeat} >= {"/data/participants/participant_name"}
    group = training.control("/data/place")
    assert group.get("appearance") == "field-list"


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_every_text_exists_in_both_languages(base_build: BuildResult, parse_xform, form_id: str) -> None:
    xform = parse_xform(base_build.forms[form_id].xform)
    texts = xform.translations()

    assert set(texts) == {FRENCH, ARABIC}
    assert set(texts[FRENCH]) == set(texts[ARABIC])
    assert xform.itext_references() <= set(texts[FRENCH])
    for language in (FRENCH, ARABIC):
        assert all(value.strip() for value in texts[language].values()), language
    labels = [text_id for text_id in texts[FRENCH] if text_id.endswith((":label", ":hint", "Msg")) or "-" in text_id]
    different = [text_id for text_id in labels if texts[FRENCH][text_id] != texts[ARABIC][text_id]]
    assert different == labels


def test_every_label_hint_choice_and_message_of_the_spec_is_translated(training: XForm) -> None:
    texts = training.translations()
    expected = {
        "/data/session_date:label": ("Date de la séance", "تاريخ الحصة"),
        "/data/session_date:hint": ("Le jour de la formation", "يوم التكوين"),
        "/data/session_date:jr:constraintMsg": ("Pas de date future", "لا تاريخ في المستقبل"),
        "/data/session_date:jr:requiredMsg": ("La date est obligatoire", "التاريخ إجباري"),
        "/data/participants/participant_age:jr:constraintMsg": ("Entre 15 et 99 ans", "بين 15 و 99 سنة"),
        "/data/place:label": ("Lieu", "المكان"),
        "topic-0": ("Genre", "النوع الاجتماعي"),
    }
    for text_id, (fr, ar) in expected.items():
        assert (texts[FRENCH][text_id], texts[ARABIC][text_id]) == (fr, ar)


def test_a_cascade_over_dimension_choices_filters_on_the_ancestor_columns(data, make, parse_xform) -> None:
    place = data["forms"][0]["questions"][1]["questions"]
    place[1] = {
        "name": "province",
        "type": "select_one",
        "choices": "dimension:province",
        "choice_filter": "region=${region}",
        "label": {"fr": "Province", "ar": "الإقليم"},
    }
    catalogue = make(data)
    built = build_form(catalogue, catalogue.forms[0])
    xform = parse_xform(built.xform)

    itemset = xform.itemset("/data/place/province")
    assert itemset.get("nodeset") == "instance('dimension_province')/root/item[region= /data/place/region ]"
    berkane = xform.instance("dimension_province").find("x:root/x:item[x:name='02.113']", NS)
    assert berkane.find("x:region", NS).text == "02"
    assert odk_validate("training_attendance", built.xform) == []
