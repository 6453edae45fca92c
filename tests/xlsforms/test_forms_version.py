"""Versions: the same catalogue gives the same bytes and versions; a change moves only the forms it touches."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from catalogue.model import Catalogue
from xlsforms.build import build_forms, form_version
from xlsforms.manifest import read_manifest

ROOT = Path(__file__).resolve().parents[2]


def _versions(catalogue: Catalogue) -> dict[str, str]:
    return {form.id: form_version(catalogue, form) for form in catalogue.forms}


def _changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {form_id for form_id in before if before[form_id] != after[form_id]}


def test_building_twice_gives_identical_files_and_versions(catalogue: Catalogue, tmp_path: Path) -> None:
    first = build_forms(catalogue, tmp_path / "a", validate=False)
    second = build_forms(catalogue, tmp_path / "b", validate=False)

    assert {f: b.version for f, b in first.forms.items()} == {f: b.version for f, b in second.forms.items()}
    names = sorted(path.name for path in first.files if path.suffix != ".xlsx")
    assert names == sorted(path.name for path in second.files if path.suffix != ".xlsx")
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_the_xml_does_not_depend_on_the_process(tmp_path: Path) -> None:
    """Hash seeds change set and dict-of-set orders between processes; the XForm must not follow them."""
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); from conftest import catalogue_dict; "
        "from catalogue.model import Catalogue; from xlsforms.build import build_form; "
        "c = Catalogue.model_validate(catalogue_dict()); "
        "sys.stdout.write(''.join(build_form(c, f).xform for f in c.forms))"
    )
    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run(
            [sys.executable, "-c", script, str(Path(__file__).parent)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            check=True,
        )
        outputs.append(run.stdout)

    assert outputs[0] == outputs[1]
    assert b"<h:html" in outputs[0]


def test_a_version_is_the_revision_date_and_a_content_hash(data: dict[str, Any], make) -> None:
    versions = _versions(make(data))
    data["forms"][1]["revision"] = {"date": "2026-05-02", "reason": "context_change", "rationale": "Nouvelle version"}
    revised = _versions(make(data))

    assert versions["training_attendance"].startswith("20260315-")
    assert revised["grant_monitoring"].startswith("20260502-")
    assert revised["grant_monitoring"][9:] == versions["grant_monitoring"][9:]
    assert revised["training_attendance"] == versions["training_attendance"]


def test_changing_one_label_changes_exactly_one_version(data: dict[str, Any], make) -> None:
    before = _versions(make(data))
    data["forms"][0]["questions"][0]["label"]["ar"] = "تاريخ الجلسة"

    assert _changed(before, _versions(make(data))) == {"training_attendance"}


def test_changing_a_catalogue_list_changes_the_forms_using_it(data: dict[str, Any], make) -> None:
    before = _versions(make(data))
    data["choice_lists"][0]["choices"][1]["label"]["fr"] = "Non, pas encore"

    assert _changed(before, _versions(make(data))) == {"grant_monitoring"}


def test_changing_media_content_changes_the_forms_using_it(data: dict[str, Any], make) -> None:
    before = _versions(make(data))
    grant = next(dim for dim in data["dimensions"] if dim["code"] == "grant")
    grant["values"].insert(
        2, {"code": "G-003", "label": {"fr": "Subvention 3", "ar": "المنحة 3"}, "parent": "asso-oujda"}
    )

    assert _changed(before, _versions(make(data))) == {"grant_monitoring"}


def test_changing_a_dimension_the_forms_use_through_choices(data: dict[str, Any], make) -> None:
    before = _versions(make(data))
    sex = next(dim for dim in data["dimensions"] if dim["code"] == "sex")
    sex["values"][0]["label"]["fr"] = "Femme ou fille"

    assert _changed(before, _versions(make(data))) == {"training_attendance"}


def test_the_catalogue_revision_alone_moves_only_the_date(data: dict[str, Any], make) -> None:
    before = _versions(make(data))
    data["revision"] = {"date": "2026-06-01", "reason": "other", "rationale": "Nouvelle édition"}
    after = _versions(make(data))

    assert {form_id: version[9:] for form_id, version in after.items()} == {
        form_id: version[9:] for form_id, version in before.items()
    }
    assert all(version.startswith("20260601-") for version in after.values())


def test_a_previous_manifest_keeps_the_versions_of_unchanged_forms(data: dict[str, Any], make, tmp_path: Path) -> None:
    old = build_forms(make(data), tmp_path / "old", validate=False)
    data["revision"] = {"date": "2026-06-01", "reason": "other", "rationale": "Nouvelle édition"}
    data["forms"][1]["questions"][0]["label"]["fr"] = "Date"

    new = build_forms(make(data), tmp_path / "new", validate=False, previous=read_manifest(tmp_path / "old"))

    assert new.forms["training_attendance"].version == old.forms["training_attendance"].version
    same = "training_attendance.xml"
    assert (tmp_path / "new" / same).read_bytes() == (tmp_path / "old" / same).read_bytes()
    assert new.forms["grant_monitoring"].version.startswith("20260601-")
    assert new.manifest.forms["grant_monitoring"].content_hash != old.manifest.forms["grant_monitoring"].content_hash
