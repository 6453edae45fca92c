"""Checks before a build: the rendering rules of `xlsforms.checks`, and a build refusing an inconsistent catalogue.

The catalogue's own consistency rules (references, choices, names, measures, disaggregations) are tested with
the catalogue validator, in `tests/catalogue/cases/`; here they only show up through `check_catalogue`.
"""

from pathlib import Path
from typing import Any

import pytest

from catalogue.model import Catalogue
from xlsforms.build import build_forms
from xlsforms.checks import check_catalogue
from xlsforms.errors import FormBuildError


def _question(data: dict[str, Any], form_id: str, name: str) -> dict[str, Any]:
    form = next(form for form in data["forms"] if form["id"] == form_id)
    stack = list(form["questions"])
    while stack:
        question = stack.pop()
        if question["name"] == name:
            return question
        stack.extend(question.get("questions", []))
    raise KeyError(name)


def _indicator(data: dict[str, Any], code: str) -> dict[str, Any]:
    return next(indicator for indicator in data["indicators"] if indicator["code"] == code)


def test_the_test_catalogue_is_clean(catalogue: Catalogue) -> None:
    assert check_catalogue(catalogue) == []


def test_an_unknown_media_file(data, make) -> None:
    _question(data, "grant_monitoring", "partner")["file"] = "ngos.csv"

    (error,) = check_catalogue(make(data))

    assert error.startswith("form 'grant_monitoring', question 'partner': media file 'ngos.csv' maps to no dimension")
    assert "name it <dimension>.csv or <dimension>s.csv" in error


def test_a_choice_filter_naming_no_column_of_the_choices(data, make) -> None:
    _question(data, "training_attendance", "commune")["choice_filter"] = "prefecture=${province}"

    assert check_catalogue(make(data)) == [
        "form 'training_attendance', question 'commune': choice_filter uses 'prefecture', which is not a column of "
        "media file 'communes.csv' (columns: name, label, label_fr, label_ar, province, region)"
    ]


def test_a_form_list_taking_the_name_generated_for_a_dimension(data, make) -> None:
    form = data["forms"][0]
    form["choice_lists"].append({"name": "dimension_sex", "choices": [{"code": "x", "label": {"fr": "X", "ar": "س"}}]})
    _question(data, "training_attendance", "quiz_answer")["choices"] = "dimension_sex"

    assert check_catalogue(make(data)) == [
        "form 'training_attendance': choice list 'dimension_sex' takes the name generated for a dimension's "
        "choices; rename it"
    ]


def test_consistency_problems_come_from_the_catalogue_validator(data, make) -> None:
    _question(data, "grant_monitoring", "women")["relevant"] = "${beneficiaires} > 0"
    _question(data, "training_attendance", "commune")["choice_filter"] = "prefecture=${province}"

    assert check_catalogue(make(data)) == [
        "form 'grant_monitoring', question 'women': relevant refers to ${beneficiaires}, "
        "which is not a question of the form",
        "form 'training_attendance', question 'commune': choice_filter uses 'prefecture', which is not a column of "
        "media file 'communes.csv' (columns: name, label, label_fr, label_ar, province, region)",
    ]


def test_checks_are_restricted_to_the_given_forms_and_their_indicators(data, make) -> None:
    _question(data, "grant_monitoring", "women")["relevant"] = "${x} > 0"
    _indicator(data, "BENEF")["disaggregations"] = ["sex"]
    _indicator(data, "PEOPLE")["measure"]["filter"] = "theme = 'gender'"
    catalogue = make(data)

    assert check_catalogue(catalogue, ["grant_monitoring"]) == [
        "form 'grant_monitoring', question 'women': relevant refers to ${x}, which is not a question of the form",
        "indicator 'BENEF', form 'grant_monitoring': disaggregation 'sex' is not asked by the form "
        "(add it to the form's dimensions)",
    ]
    assert check_catalogue(catalogue, ["training_attendance"]) == [
        "indicator 'PEOPLE', form 'training_attendance': filter uses 'theme', which is not a question of the form"
    ]


def test_a_build_collects_every_error_and_writes_nothing(data, make, tmp_path: Path) -> None:
    _question(data, "grant_monitoring", "women")["relevant"] = "${x} > 0"
    _question(data, "training_attendance", "topic")["choices"] = "themes"
    _indicator(data, "BENEF")["disaggregations"] = ["sex"]
    out = tmp_path / "out"

    with pytest.raises(FormBuildError) as raised:
        build_forms(make(data), out)

    assert len(raised.value.errors) == 3
    assert [error.split(":")[0] for error in raised.value.errors] == [
        "form 'training_attendance', question 'topic'",
        "form 'grant_monitoring', question 'women'",
        "indicator 'BENEF', form 'grant_monitoring'",
    ]
    assert raised.value.errors == [
        "form 'training_attendance', question 'topic': choice list 'themes' does not exist",
        "form 'grant_monitoring', question 'women': relevant refers to ${x}, which is not a question of the form",
        "indicator 'BENEF', form 'grant_monitoring': disaggregation 'sex' is not asked by the form "
        "(add it to the form's dimensions)",
    ]
    assert str(raised.value).startswith("3 problems in the forms:\n")
    assert not out.exists()


def test_odk_validate_errors_are_collected_with_the_form_named(data, make, tmp_path: Path) -> None:
    _question(data, "grant_monitoring", "women_share")["calculation"] = "nosuchfunction(${women})"

    with pytest.raises(FormBuildError) as raised:
        build_forms(make(data), tmp_path)

    (error,) = raised.value.errors
    assert error.startswith("form 'grant_monitoring': ODK Validate Errors:")
    assert "nosuchfunction" in error
    assert list(tmp_path.iterdir()) == []
