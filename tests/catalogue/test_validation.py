"""`sera catalogue validate`: the shipped catalogue passes; each broken catalogue gives exactly its errors.

Each broken case in `cases/` is the minimal catalogue with one kind of mistake (one file shows several at once);
`<case>.expected` holds the `LINE: message` lines the validator must print, in order, and nothing else.
`cases/valid_*.yaml` are variants of the minimal catalogue that must stay valid. The same rules run on a
catalogue in memory (`consistency_problems`, what a form build checks) and give the same messages, without lines.
"""

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from catalogue.model import Catalogue
from catalogue.validation import consistency_problems
from sera.cli import app
from sera.settings import DEFAULT_CATALOGUE, get_settings
from tests.conftest import CASES

BROKEN = sorted(path.stem for path in CASES.glob("*.expected"))
VALID = sorted(path.stem for path in CASES.glob("valid_*.yaml"))
IN_MEMORY = (
    "dimension_mismatch",
    "dimension_without_unknown",
    "disaggregation_not_asked",
    "duplicate_codes",
    "duplicate_question_name",
    "expression_references",
    "filter_file_choices",
    "filter_syntax",
    "filter_unknown_names",
    "form_fields",
    "form_references",
    "measure_not_numeric",
    "measure_question_missing",
    "people_without_identifiers",
    "reserved_name",
    "results_chain",
    "second_target",
    "target_outside_programme",
    "target_split",
    "texts_references",
    "unknown_choices_dimension",
    "unknown_dimension",
    "unknown_result",
)
"""Broken cases whose errors all need the whole catalogue, so each file still reads into a `Catalogue`."""
runner = CliRunner()


@pytest.fixture(autouse=True)
def _fresh_settings() -> None:
    get_settings.cache_clear()


def test_there_are_at_least_twelve_broken_catalogues() -> None:
    assert len(BROKEN) >= 12


def test_the_shipped_catalogue_is_valid() -> None:
    result = runner.invoke(app, ["catalogue", "validate"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert DEFAULT_CATALOGUE.exists()


def test_the_minimal_catalogue_is_valid() -> None:
    result = runner.invoke(app, ["catalogue", "validate", str(CASES / "minimal.yaml")])
    assert result.exit_code == 0, result.output


def test_there_are_valid_variants() -> None:
    assert {"valid_metadata", "valid_child_dimension"} <= set(VALID)


@pytest.mark.parametrize("case", VALID)
def test_valid_variant_of_the_minimal_catalogue(case: str) -> None:
    result = runner.invoke(app, ["catalogue", "validate", str(CASES / f"{case}.yaml")])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""


@pytest.mark.parametrize("case", BROKEN)
def test_broken_catalogue_reports_every_error_with_its_line(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CASES.parent.parent.parent)
    path = Path("tests/catalogue/cases") / f"{case}.yaml"
    expected = [f"{path}:{line}" for line in (CASES / f"{case}.expected").read_text(encoding="utf-8").splitlines()]
    result = runner.invoke(app, ["catalogue", "validate", str(path)])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == expected


def test_includes_are_read_and_errors_name_the_included_file(tmp_path: Path) -> None:
    main = (CASES / "minimal.yaml").read_text(encoding="utf-8")
    head, forms = main.split("forms:\n", 1)
    (tmp_path / "forms").mkdir()
    (tmp_path / "forms" / "attendance.yaml").write_text(
        "forms:\n" + forms.replace("audience: field_staff", "audience: field_staf"), encoding="utf-8"
    )
    (tmp_path / "catalogue.yaml").write_text('include: ["forms/*.yaml", "missing/*.yaml"]\n' + head, encoding="utf-8")
    result = runner.invoke(app, ["catalogue", "validate", str(tmp_path / "catalogue.yaml")])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("catalogue.yaml:1: include 'missing/*.yaml' matches no file")
    assert "forms/attendance.yaml:4: form 'attendance': audience: Input should be" in lines[1]


def test_an_included_file_may_only_hold_list_sections(tmp_path: Path) -> None:
    (tmp_path / "extra.yaml").write_text("programme: {code: X}\n", encoding="utf-8")
    main = (CASES / "minimal.yaml").read_text(encoding="utf-8")
    (tmp_path / "catalogue.yaml").write_text('include: ["extra.yaml"]\n' + main, encoding="utf-8")
    result = runner.invoke(app, ["catalogue", "validate", str(tmp_path / "catalogue.yaml")])
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0].endswith(
        "extra.yaml:1: 'programme' cannot be included; allowed: results, dimensions, choice_lists, indicators, forms"
    )


def test_a_file_that_does_not_exist_is_one_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["catalogue", "validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert result.stdout.strip().endswith("nope.yaml:1: cannot read the file: No such file or directory")


def test_a_valid_catalogue_in_memory_has_no_consistency_problem(minimal_catalogue: Catalogue) -> None:
    assert consistency_problems(minimal_catalogue) == []


@pytest.mark.parametrize("case", IN_MEMORY)
def test_a_catalogue_in_memory_gets_the_same_messages_without_lines(case: str) -> None:
    catalogue = Catalogue.model_validate(yaml.safe_load((CASES / f"{case}.yaml").read_text(encoding="utf-8")))
    expected = [
        re.sub(r" \(first at line \d+\)", "", line.split(": ", 1)[1])
        for line in (CASES / f"{case}.expected").read_text(encoding="utf-8").splitlines()
    ]

    assert sorted(consistency_problems(catalogue)) == sorted(expected)


def test_consistency_problems_can_be_restricted_to_forms() -> None:
    catalogue = Catalogue.model_validate(
        yaml.safe_load((CASES / "filter_unknown_names.yaml").read_text(encoding="utf-8"))
    )

    assert consistency_problems(catalogue, ["other_form"]) == []
    assert len(consistency_problems(catalogue, ["attendance"])) == 2
