"""Diffs between builds: questions added, removed, renamed, retyped, moved, re-choiced, and who reads them."""

import copy
from pathlib import Path
from typing import Any

from catalogue.model import Catalogue
from xlsforms.build import build_form, build_forms
from xlsforms.diff import ChangeKind, ManifestDiff, diff_builds, diff_manifests, render_diff
from xlsforms.manifest import Manifest, new_manifest


def _manifest(catalogue: Catalogue) -> Manifest:
    return new_manifest(catalogue, [build_form(catalogue, form).manifest for form in catalogue.forms])


def _diff(before: dict[str, Any], after: dict[str, Any], make) -> tuple[ManifestDiff, Catalogue]:
    old, new = make(before), make(after)
    return diff_manifests(_manifest(old), _manifest(new), new), new


def _changes(diff: ManifestDiff, form_id: str) -> list[tuple[str, str, str | None]]:
    form = next(form for form in diff.forms if form.form_id == form_id)
    return [(change.kind.value, change.name, change.old_name) for change in form.changes]


def test_no_change_no_difference(data, make) -> None:
    diff, _ = _diff(data, data, make)

    assert not diff.changed
    assert [form.status for form in diff.forms] == ["unchanged", "unchanged"]
    assert render_diff(diff).splitlines()[0].startswith("form grant_monitoring: unchanged, version 20260315-")


def test_added_removed_and_retyped_questions_name_the_indicators_reading_them(data, make) -> None:
    after = copy.deepcopy(data)
    questions = after["forms"][1]["questions"]
    questions.insert(4, {"name": "men", "type": "integer", "label": {"fr": "dont hommes", "ar": "منهم رجال"}})
    questions[3]["type"] = "decimal"
    del questions[-1]

    diff, _ = _diff(data, after, make)

    form = next(form for form in diff.forms if form.form_id == "grant_monitoring")
    assert form.status == "changed"
    assert [(c.kind, c.name, c.indicators) for c in form.changes] == [
        (ChangeKind.removed, "women_share", []),
        (ChangeKind.retyped, "beneficiaries", ["BENEF"]),
        (ChangeKind.added, "men", []),
    ]
    retyped = form.changes[1]
    assert (retyped.old_type, retyped.type) == ("integer", "decimal")


def test_a_rename_keeps_the_label(data, make) -> None:
    after = copy.deepcopy(data)
    after["forms"][1]["questions"][5]["name"] = "has_gender_approach"
    after["indicators"][2]["measure"]["numerator"]["filter"] = "has_gender_approach = 'yes'"

    diff, _ = _diff(data, after, make)

    assert _changes(diff, "grant_monitoring") == [("renamed", "has_gender_approach", "gender_approach")]
    change = diff.forms[0].changes[0]
    assert change.indicators == ["GENDER"]
    assert "~ renamed   gender_approach → has_gender_approach (select_one)" in render_diff(diff)


def test_a_rename_of_an_unlabelled_question_is_found_by_its_place(data, make) -> None:
    after = copy.deepcopy(data)
    after["forms"][1]["questions"][6]["name"] = "share_of_women"

    diff, _ = _diff(data, after, make)

    assert _changes(diff, "grant_monitoring") == [("renamed", "share_of_women", "women_share")]


def test_a_new_name_with_a_new_type_is_a_removal_and_an_addition(data, make) -> None:
    after = copy.deepcopy(data)
    after["forms"][1]["questions"][4] |= {"name": "women_count", "type": "decimal"}
    after["forms"][1]["questions"][6]["calculation"] = "${women_count} div ${beneficiaries}"

    diff, _ = _diff(data, after, make)

    assert _changes(diff, "grant_monitoring") == [("removed", "women", None), ("added", "women_count", None)]


def test_moves_and_choice_changes(data, make) -> None:
    after = copy.deepcopy(data)
    training = after["forms"][0]["questions"]
    topic = training.pop(2)
    training[1]["questions"].append(topic)
    training[1]["questions"][0]["appearance"] = "minimal"
    sex = next(dim for dim in after["dimensions"] if dim["code"] == "sex")
    sex["values"].insert(2, {"code": "other", "label": {"fr": "Autre", "ar": "آخر"}})

    diff, _ = _diff(data, after, make)

    training_change = next(form for form in diff.forms if form.form_id == "training_attendance")
    assert [(c.kind.value, c.name, c.old_path, c.path) for c in training_change.changes] == [
        ("moved", "topic", "topic", "place/topic"),
        ("choices_changed", "participant_sex", "participants/participant_sex", "participants/participant_sex"),
    ]
    sex_change = training_change.changes[1]
    assert (sex_change.choices_added, sex_change.choices_removed) == (["other"], [])
    assert training_change.changes[0].indicators == ["PEOPLE"]
    assert sex_change.indicators == ["PEOPLE"]
    assert "* choices   participant_sex: +other — used by PEOPLE" in render_diff(diff)


def test_label_only_changes_and_media_changes_are_reported(data, make) -> None:
    after = copy.deepcopy(data)
    after["forms"][1]["questions"][0]["label"]["fr"] = "Date"
    grant = next(dim for dim in after["dimensions"] if dim["code"] == "grant")
    grant["values"][0]["label"]["fr"] = "Subvention n°1"

    diff, _ = _diff(data, after, make)

    form = next(form for form in diff.forms if form.form_id == "grant_monitoring")
    assert form.status == "changed"
    assert form.changes == []
    assert form.media_changed == ["grants.csv"]
    assert "  media changed: grants.csv" in render_diff(diff)


def test_forms_added_and_removed(data, make) -> None:
    after = copy.deepcopy(data)
    after["forms"][1]["id"] = "grant_report"
    for indicator in after["indicators"]:
        if indicator["measure"]["form"] == "grant_monitoring":
            indicator["measure"]["form"] = "grant_report"

    diff, _ = _diff(data, after, make)

    assert [(form.form_id, form.status) for form in diff.forms] == [
        ("grant_monitoring", "removed"),
        ("grant_report", "added"),
        ("training_attendance", "unchanged"),
    ]


def test_diff_of_two_build_directories(catalogue: Catalogue, data, make, tmp_path: Path) -> None:
    build_forms(catalogue, tmp_path / "old", validate=False)
    data["forms"][1]["questions"][3]["type"] = "decimal"
    new = make(data)
    build_forms(new, tmp_path / "new", validate=False)

    diff = diff_builds(tmp_path / "old", tmp_path / "new", new)

    text = render_diff(diff)
    assert (
        "! retyped   beneficiaries: integer → decimal (ODK Central refuses a field type change) — used by BENEF" in text
    )
