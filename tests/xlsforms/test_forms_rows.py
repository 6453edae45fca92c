"""Catalogue form spec → XLSForm rows: metadata, bilingual columns, choices from dimensions, settings."""

import re

from catalogue.model import Catalogue
from xlsforms.columns import ARABIC, FRENCH, METADATA
from xlsforms.lookup import Lookup
from xlsforms.rows import form_rows

LABEL_FR, LABEL_AR = f"label::{FRENCH}", f"label::{ARABIC}"


def _form(catalogue: Catalogue, form_id: str):
    return next(form for form in catalogue.forms if form.id == form_id)


def _survey_row(sheets, name: str) -> dict[str, str]:
    return next(row for row in sheets["survey"] if row.get("name") == name)


def test_metadata_questions_come_first(catalogue: Catalogue) -> None:
    sheets = form_rows(catalogue, _form(catalogue, "training_attendance"))

    assert [(row["type"], row["name"]) for row in sheets["survey"][: len(METADATA)]] == list(METADATA)


def test_every_text_is_written_in_both_languages(catalogue: Catalogue) -> None:
    sheets = form_rows(catalogue, _form(catalogue, "training_attendance"))

    date = _survey_row(sheets, "session_date")
    assert date[LABEL_FR] == "Date de la séance"
    assert date[LABEL_AR] == "تاريخ الحصة"
    assert date[f"hint::{FRENCH}"] == "Le jour de la formation"
    assert date[f"hint::{ARABIC}"] == "يوم التكوين"
    assert date["required"] == "yes"
    assert date[f"required_message::{ARABIC}"] == "التاريخ إجباري"
    assert date["constraint"] == ". <= today()"
    assert date[f"constraint_message::{FRENCH}"] == "Pas de date future"
    assert date[f"constraint_message::{ARABIC}"] == "لا تاريخ في المستقبل"
    for row in sheets["survey"]:
        assert (LABEL_FR in row) == (LABEL_AR in row), row
    for row in sheets["choices"]:
        assert row[LABEL_FR] and row[LABEL_AR], row


def test_groups_and_repeats_open_and_close(catalogue: Catalogue) -> None:
    types = [row["type"] for row in form_rows(catalogue, _form(catalogue, "training_attendance"))["survey"]]

    assert types.count("begin_group") == types.count("end_group") == 1
    assert types.count("begin_repeat") == types.count("end_repeat") == 1
    assert types.index("begin_repeat") < types.index("end_repeat")


def test_dimension_choices_are_the_dimension_values_with_their_ancestors(data: dict, make) -> None:
    data["forms"][0]["questions"].append(
        {
            "name": "home",
            "type": "select_one",
            "choices": "dimension:commune",
            "label": {"fr": "Commune", "ar": "جماعة"},
        }
    )
    catalogue = make(data)
    sheets = form_rows(catalogue, _form(catalogue, "training_attendance"))

    assert _survey_row(sheets, "home")["type"] == "select_one dimension_commune"
    communes = [row for row in sheets["choices"] if row["list_name"] == "dimension_commune"]
    values = Lookup(catalogue).values("commune")
    assert [row["name"] for row in communes] == [value.code for value in values]
    ahfir = next(row for row in communes if row["name"] == "02.113.01.01")
    assert ahfir == {
        "list_name": "dimension_commune",
        "name": "02.113.01.01",
        LABEL_FR: "Ahfir",
        LABEL_AR: "أحفير",
        "province": "02.113",
        "region": "02",
    }
    assert communes[-1]["name"] == "unknown"


def test_choices_hold_the_form_lists_and_only_the_catalogue_lists_used(catalogue: Catalogue) -> None:
    training = form_rows(catalogue, _form(catalogue, "training_attendance"))
    grant = form_rows(catalogue, _form(catalogue, "grant_monitoring"))

    assert list(dict.fromkeys(row["list_name"] for row in training["choices"])) == [
        "topic",
        "quiz",
        "dimension_region",
        "dimension_sex",
    ]
    assert {row["list_name"] for row in grant["choices"]} == {"yes_no"}
    assert [row.get("score") for row in training["choices"] if row["list_name"] == "quiz"] == ["1", "0"]


def test_selects_from_files_name_the_file_and_keep_the_filter(catalogue: Catalogue) -> None:
    sheets = form_rows(catalogue, _form(catalogue, "training_attendance"))

    commune = _survey_row(sheets, "commune")
    assert commune["type"] == "select_one_from_file communes.csv"
    assert commune["choice_filter"] == "province=${province}"


def test_settings_carry_identity_languages_and_version(catalogue: Catalogue) -> None:
    (settings,) = form_rows(catalogue, _form(catalogue, "training_attendance"))["settings"]

    assert settings["form_id"] == "training_attendance"
    assert settings["form_title"] == "Présence aux formations / الحضور في التكوينات"
    assert settings["default_language"] == FRENCH
    assert settings["instance_name"] == "concat(${commune}, ' ', ${session_date})"
    assert settings["style"] == "pages"
    assert re.fullmatch(r"20260315-[0-9a-f]{10}", settings["version"])
