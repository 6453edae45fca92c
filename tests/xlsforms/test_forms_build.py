"""A whole build: the files it writes, the workbook matching the XForm, the manifest."""

import json
from pathlib import Path

import pytest
from pyxform.xls2xform import convert

from catalogue.model import Catalogue
from xlsforms.build import BuildResult, build_forms, select_forms
from xlsforms.columns import ARABIC, FRENCH
from xlsforms.errors import FormBuildError
from xlsforms.manifest import read_manifest
from xlsforms.xlsx import read_xlsx, write_xlsx


def test_a_build_writes_workbooks_xforms_media_and_manifest(base_build: BuildResult) -> None:
    names = sorted(path.name for path in base_build.files)

    assert names == [
        "communes.csv",
        "grant_monitoring.xlsx",
        "grant_monitoring.xml",
        "grants.csv",
        "manifest.json",
        "partners.csv",
        "provinces.csv",
        "training_attendance.xlsx",
        "training_attendance.xml",
    ]
    assert all(path.parent == base_build.out_dir for path in base_build.files)
    assert base_build.warnings == []


@pytest.mark.parametrize("form_id", ["training_attendance", "grant_monitoring"])
def test_the_workbook_converts_to_the_same_xform(base_build: BuildResult, form_id: str) -> None:
    workbook = base_build.out_dir / f"{form_id}.xlsx"

    assert convert(str(workbook), pretty_print=True).xform == (base_build.out_dir / f"{form_id}.xml").read_text("utf-8")
    assert read_xlsx(workbook) == base_build.forms[form_id].sheets


def test_the_workbook_has_bilingual_columns(base_build: BuildResult) -> None:
    sheets = read_xlsx(base_build.out_dir / "training_attendance.xlsx")

    assert f"label::{FRENCH}" in sheets["survey"][6]
    assert f"label::{ARABIC}" in sheets["choices"][0]
    assert sheets["settings"][0]["default_language"] == FRENCH


def test_cells_stay_text(tmp_path: Path) -> None:
    path = tmp_path / "form.xlsx"
    write_xlsx({"survey": [{"type": "calculate", "name": "x", "calculation": "=1"}]}, path)

    assert read_xlsx(path) == {"survey": [{"type": "calculate", "name": "x", "calculation": "=1"}]}


def test_the_manifest_lists_versions_files_and_questions(base_build: BuildResult) -> None:
    manifest = read_manifest(base_build.out_dir)
    training = manifest.forms["training_attendance"]

    assert list(manifest.forms) == ["grant_monitoring", "training_attendance"]
    assert str(manifest.catalogue_revision) == "2026-03-15"
    assert training.version == base_build.forms["training_attendance"].version
    assert (training.xlsx, training.xml) == ("training_attendance.xlsx", "training_attendance.xml")
    assert sorted(training.media) == ["communes.csv", "provinces.csv"]
    by_name = {question.name: question for question in training.questions}
    assert by_name["commune"].path == "place/commune"
    assert by_name["commune"].position == 2
    assert by_name["participant_sex"].choices == ["female", "male", "unknown"]
    assert by_name["participant_name"].pii is True
    assert by_name["participant_age"].choices is None
    assert "02.113.01.01" in (by_name["commune"].choices or [])
    raw = json.loads((base_build.out_dir / "manifest.json").read_text("utf-8"))
    assert raw["sera_forms_manifest"] == 1


def test_only_the_named_forms_are_built(catalogue: Catalogue, tmp_path: Path) -> None:
    result = build_forms(catalogue, tmp_path, form_ids=["grant_monitoring"], validate=False)

    assert list(result.forms) == ["grant_monitoring"]
    assert not (tmp_path / "training_attendance.xml").exists()
    assert not (tmp_path / "communes.csv").exists()


def test_an_unknown_form_id_is_refused(catalogue: Catalogue) -> None:
    with pytest.raises(FormBuildError) as raised:
        select_forms(catalogue, ["grant_monitoring", "grant_report"])

    assert raised.value.errors == ["form 'grant_report' is not a form of the catalogue"]
