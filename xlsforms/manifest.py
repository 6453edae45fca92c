"""The build manifest (`manifest.json`): each form's version, files and question list, kept for diffs.

Written beside the `.xlsx`/`.xml` files so the next build can say what changed on the phones (questions added,
removed, renamed, retyped) without re-reading old workbooks, and so deploy can tell which forms have a new
version and which media belong to which form.
"""

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from catalogue.model import Catalogue, FormSpec, Question, Text
from xlsforms.lookup import Lookup
from xlsforms.media import sha256

MANIFEST_NAME = "manifest.json"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ManifestQuestion(_Frozen):
    """A question as submissions will carry it: `path` is the group/repeat path joined by `/` (Kobo's keys)."""

    name: str
    type: str
    path: str
    position: int
    """0-based index among its siblings, for the rename heuristic."""
    label: Text | None = None
    choices: list[str] | None = None
    """The codes a select can take (from its list, its dimension or its media file)."""
    pii: bool = False
    sensitive: bool = False


class ManifestForm(_Frozen):
    form_id: str
    version: str
    content_hash: str
    """SHA-256 of the rows (version cell excepted) and media: equal hashes, same form on the phones."""
    title: Text
    xlsx: str
    xml: str
    media: dict[str, str] = {}
    """Media file name → SHA-256 of its bytes."""
    questions: list[ManifestQuestion]


class Manifest(_Frozen):
    sera_forms_manifest: Literal[1] = 1
    catalogue_revision: dt.date
    forms: dict[str, ManifestForm]


def _walk(questions: list[Question], prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], int, Question]]:
    for position, question in enumerate(questions):
        path = (*prefix, question.name)
        yield path, position, question
        yield from _walk(question.questions, path)


def form_manifest(lookup: Lookup, form: FormSpec, version: str, digest: str, media: dict[str, bytes]) -> ManifestForm:
    """The manifest entry of one built form."""
    questions = [
        ManifestQuestion(
            name=question.name,
            type=question.type,
            path="/".join(path),
            position=position,
            label=question.label,
            choices=lookup.codes(form, question),
            pii=question.pii,
            sensitive=question.sensitive,
        )
        for path, position, question in _walk(form.questions)
    ]
    return ManifestForm(
        form_id=form.id,
        version=version,
        content_hash=digest,
        title=form.title,
        xlsx=f"{form.id}.xlsx",
        xml=f"{form.id}.xml",
        media={name: sha256(data) for name, data in sorted(media.items())},
        questions=questions,
    )


def new_manifest(catalogue: Catalogue, forms: list[ManifestForm]) -> Manifest:
    """A manifest of built forms, keyed and ordered by form id."""
    ordered = sorted(forms, key=lambda form: form.form_id)
    return Manifest(catalogue_revision=catalogue.revision.date, forms={form.form_id: form for form in ordered})


def manifest_json(manifest: Manifest) -> bytes:
    """The manifest as stable JSON bytes (same manifest, same bytes)."""
    data = manifest.model_dump(mode="json")
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def write_manifest(manifest: Manifest, directory: Path) -> Path:
    """Write `manifest.json` into a build directory."""
    path = directory / MANIFEST_NAME
    path.write_bytes(manifest_json(manifest))
    return path


def read_manifest(path: Path) -> Manifest:
    """Read a manifest from its file or from the build directory holding it."""
    if path.is_dir():
        path = path / MANIFEST_NAME
    return Manifest.model_validate_json(path.read_bytes())
