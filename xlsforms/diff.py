"""What changed between two builds of the forms, question by question, and which indicators it touches.

Compares two manifests (`manifest.json` of an old and a new build). Questions are matched by name; a question
whose name disappeared and one that appeared are taken as a rename when they have the same type and either
the same label (French or Arabic) or, failing that, the same parent group and position among its siblings.
Pairs are made one to one, in the old form's order. Anything else is a removal plus an addition. A type
change matters beyond analysis: ODK Central refuses to publish a version that changes a field's type.
"""

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from catalogue.model import Catalogue
from xlsforms.lookup import Lookup
from xlsforms.manifest import Manifest, ManifestForm, ManifestQuestion, read_manifest
from xlsforms.trace import indicators_using


class ChangeKind(StrEnum):
    added = "added"
    removed = "removed"
    renamed = "renamed"
    retyped = "retyped"
    moved = "moved"
    """Same name, another group or repeat: the submission key (`group/question`) changes."""
    choices_changed = "choices_changed"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QuestionChange(_Frozen):
    kind: ChangeKind
    name: str
    """The new name (the old one for a removal)."""
    path: str
    type: str
    old_name: str | None = None
    old_path: str | None = None
    old_type: str | None = None
    choices_added: list[str] = []
    choices_removed: list[str] = []
    indicators: list[str] = []
    """Codes of the indicators whose measure reads this question (by its old or new name)."""


class FormChange(_Frozen):
    form_id: str
    status: Literal["added", "removed", "changed", "unchanged"]
    old_version: str | None = None
    new_version: str | None = None
    changes: list[QuestionChange] = []
    media_changed: list[str] = []
    """Media files added, removed or with new content."""


class ManifestDiff(_Frozen):
    forms: list[FormChange]

    @property
    def changed(self) -> bool:
        return any(form.status != "unchanged" for form in self.forms)


def _parent(path: str) -> str:
    return path.rpartition("/")[0]


def _same_label(old: ManifestQuestion, new: ManifestQuestion) -> bool:
    if old.label is None or new.label is None:
        return False
    return old.label.fr == new.label.fr or old.label.ar == new.label.ar


def _same_place(old: ManifestQuestion, new: ManifestQuestion) -> bool:
    return _parent(old.path) == _parent(new.path) and old.position == new.position


def match_renames(
    removed: list[ManifestQuestion], added: list[ManifestQuestion]
) -> list[tuple[ManifestQuestion, ManifestQuestion]]:
    """Pair disappeared and new questions that are the same question renamed (see the module docstring)."""
    pairs: list[tuple[ManifestQuestion, ManifestQuestion]] = []
    taken: set[str] = set()
    for same in (_same_label, _same_place):
        for old in removed:
            if any(old is pair[0] for pair in pairs):
                continue
            for new in added:
                if new.name not in taken and new.type == old.type and same(old, new):
                    pairs.append((old, new))
                    taken.add(new.name)
                    break
    return pairs


def _question_changes(old: ManifestForm, new: ManifestForm) -> list[QuestionChange]:
    old_q = {question.name: question for question in old.questions}
    new_q = {question.name: question for question in new.questions}
    removed = [question for name, question in old_q.items() if name not in new_q]
    added = [question for name, question in new_q.items() if name not in old_q]
    pairs = match_renames(removed, added)
    renamed_old = {pair[0].name for pair in pairs}
    renamed_new = {pair[1].name for pair in pairs}
    changes = [
        QuestionChange(kind=ChangeKind.removed, name=question.name, path=question.path, type=question.type)
        for question in removed
        if question.name not in renamed_old
    ]
    for before, after in pairs:
        changes.append(
            QuestionChange(
                kind=ChangeKind.renamed,
                name=after.name,
                path=after.path,
                type=after.type,
                old_name=before.name,
                old_path=before.path,
                old_type=before.type,
            )
        )
    for name, after in new_q.items():
        before = old_q.get(name)
        if before is None:
            if name not in renamed_new:
                changes.append(QuestionChange(kind=ChangeKind.added, name=name, path=after.path, type=after.type))
            continue
        common = {
            "name": name,
            "path": after.path,
            "type": after.type,
            "old_path": before.path,
            "old_type": before.type,
        }
        if before.type != after.type:
            changes.append(QuestionChange(kind=ChangeKind.retyped, **common))
        elif before.path != after.path:
            changes.append(QuestionChange(kind=ChangeKind.moved, **common))
        if before.choices is not None and after.choices is not None and before.choices != after.choices:
            changes.append(
                QuestionChange(
                    kind=ChangeKind.choices_changed,
                    **common,
                    choices_added=[code for code in after.choices if code not in set(before.choices)],
                    choices_removed=[code for code in before.choices if code not in set(after.choices)],
                )
            )
    return changes


def _with_indicators(catalogue: Catalogue, lookup: Lookup, form_id: str, change: QuestionChange) -> QuestionChange:
    names = [name for name in (change.name, change.old_name) if name is not None]
    return change.model_copy(update={"indicators": indicators_using(catalogue, form_id, names, lookup)})


def _media_changed(old: ManifestForm, new: ManifestForm) -> list[str]:
    names = sorted(set(old.media) | set(new.media))
    return [name for name in names if old.media.get(name) != new.media.get(name)]


def diff_manifests(old: Manifest, new: Manifest, catalogue: Catalogue) -> ManifestDiff:
    """The changes from an old build to a new one, each with the indicators (of `catalogue`) it touches."""
    lookup = Lookup(catalogue)
    forms: list[FormChange] = []
    for form_id in sorted(set(old.forms) | set(new.forms)):
        before, after = old.forms.get(form_id), new.forms.get(form_id)
        if before is None and after is not None:
            forms.append(FormChange(form_id=form_id, status="added", new_version=after.version))
        elif after is None and before is not None:
            forms.append(FormChange(form_id=form_id, status="removed", old_version=before.version))
        elif before is not None and after is not None:
            changes = [_with_indicators(catalogue, lookup, form_id, c) for c in _question_changes(before, after)]
            forms.append(
                FormChange(
                    form_id=form_id,
                    status="unchanged" if before.version == after.version else "changed",
                    old_version=before.version,
                    new_version=after.version,
                    changes=changes,
                    media_changed=_media_changed(before, after),
                )
            )
    return ManifestDiff(forms=forms)


def diff_builds(old_dir: Path, new_dir: Path, catalogue: Catalogue) -> ManifestDiff:
    """`diff_manifests` of two build directories (or manifest files)."""
    return diff_manifests(read_manifest(old_dir), read_manifest(new_dir), catalogue)


_SIGNS = {
    ChangeKind.added: "+ added",
    ChangeKind.removed: "- removed",
    ChangeKind.renamed: "~ renamed",
    ChangeKind.retyped: "! retyped",
    ChangeKind.moved: "> moved",
    ChangeKind.choices_changed: "* choices",
}


def _render_change(change: QuestionChange) -> str:
    sign = _SIGNS[change.kind]
    match change.kind:
        case ChangeKind.renamed:
            text = f"{change.old_name} → {change.name} ({change.type}) at {change.path}"
        case ChangeKind.retyped:
            text = f"{change.name}: {change.old_type} → {change.type} (ODK Central refuses a field type change)"
        case ChangeKind.moved:
            text = f"{change.name}: {change.old_path} → {change.path}"
        case ChangeKind.choices_changed:
            parts = [f"+{code}" for code in change.choices_added] + [f"-{code}" for code in change.choices_removed]
            text = f"{change.name}: {' '.join(parts)}"
        case _:
            text = f"{change.name} ({change.type}) at {change.path}"
    used = f" — used by {', '.join(change.indicators)}" if change.indicators else ""
    return f"  {sign:<11} {text}{used}"


def render_diff(diff: ManifestDiff) -> str:
    """A plain-text report of a diff, one line per form and per change."""
    lines: list[str] = []
    for form in diff.forms:
        if form.status == "added":
            lines.append(f"form {form.form_id}: new form, version {form.new_version}")
        elif form.status == "removed":
            lines.append(f"form {form.form_id}: removed (was version {form.old_version})")
        elif form.status == "unchanged":
            lines.append(f"form {form.form_id}: unchanged, version {form.new_version}")
        else:
            lines.append(f"form {form.form_id}: {form.old_version} → {form.new_version}")
            lines.extend(_render_change(change) for change in form.changes)
            if form.media_changed:
                lines.append(f"  media changed: {', '.join(form.media_changed)}")
            if not form.changes and not form.media_changed:
                lines.append("  texts or settings changed; no question added, removed, renamed, moved or retyped")
    return "\n".join(lines) + ("\n" if lines else "")
