"""Build forms: catalogue → checks → rows → XForm (pyxform) → ODK Validate → files in a build directory.

A build is all or nothing: every problem of every form is collected (traceability checks, pyxform, ODK
Validate) and raised as one `FormBuildError` before anything is written. The directory then holds
`<form_id>.xlsx`, `<form_id>.xml`, each media CSV once (forms share them by name) and `manifest.json`.
"""

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from catalogue.model import Catalogue, FormSpec
from xlsforms.checks import check_catalogue
from xlsforms.columns import Sheets
from xlsforms.errors import FormBuildError
from xlsforms.lookup import Lookup
from xlsforms.manifest import Manifest, ManifestForm, form_manifest, new_manifest, write_manifest
from xlsforms.media import form_media
from xlsforms.rows import form_rows
from xlsforms.version import content_hash
from xlsforms.xform import XFormError, odk_validate_all, to_xform
from xlsforms.xlsx import write_xlsx


@dataclass(frozen=True)
class BuiltForm:
    """One form, built in memory."""

    form_id: str
    version: str
    sheets: Sheets
    xform: str
    media: dict[str, bytes]
    manifest: ManifestForm
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BuildResult:
    """What a build wrote, and the pyxform / ODK Validate warnings it met."""

    out_dir: Path
    forms: dict[str, BuiltForm]
    manifest: Manifest
    files: list[Path]
    warnings: list[str]


def form_version(catalogue: Catalogue, form: FormSpec, previous: Manifest | None = None) -> str:
    """The version a build gives a form (see `xlsforms.version` for the scheme)."""
    return form_rows(catalogue, form, previous=previous)["settings"][0]["version"]


def select_forms(catalogue: Catalogue, form_ids: Collection[str] | None) -> list[FormSpec]:
    """The forms to build, in catalogue order; raises FormBuildError for ids the catalogue lacks."""
    if form_ids is None:
        return list(catalogue.forms)
    known = {form.id for form in catalogue.forms}
    missing = [form_id for form_id in form_ids if form_id not in known]
    if missing:
        raise FormBuildError([f"form '{form_id}' is not a form of the catalogue" for form_id in missing])
    return [form for form in catalogue.forms if form.id in form_ids]


def build_form(catalogue: Catalogue, form: FormSpec, previous: Manifest | None = None) -> BuiltForm:
    """Build one form in memory through pyxform (no ODK Validate); raises FormBuildError on any problem."""
    errors = check_catalogue(catalogue, [form.id])
    if errors:
        raise FormBuildError(errors)
    return _build_checked(catalogue, form, Lookup(catalogue), previous)


def _build_checked(catalogue: Catalogue, form: FormSpec, lookup: Lookup, previous: Manifest | None) -> BuiltForm:
    sheets = form_rows(catalogue, form, lookup, previous)
    media = form_media(lookup, form)
    warnings: list[str] = []
    try:
        xform = to_xform(form.id, sheets, warnings)
    except XFormError as error:
        raise FormBuildError([str(error)]) from error
    version = sheets["settings"][0]["version"]
    manifest = form_manifest(lookup, form, version, content_hash(sheets, media), media)
    return BuiltForm(form.id, version, sheets, xform, media, manifest, warnings)


def build_forms(
    catalogue: Catalogue,
    out_dir: Path,
    *,
    form_ids: Collection[str] | None = None,
    validate: bool = True,
    previous: Manifest | None = None,
) -> BuildResult:
    """Build the catalogue's forms (or those named) into `out_dir`, ODK-validated unless `validate` is False.

    `previous` is the manifest of the last build (or deployment): forms whose content did not change keep
    their version from it, whatever the catalogue's revision date says.
    """
    forms = select_forms(catalogue, form_ids)
    errors = check_catalogue(catalogue, [form.id for form in forms])
    if errors:
        raise FormBuildError(errors)
    lookup = Lookup(catalogue)
    built: dict[str, BuiltForm] = {}
    for form in forms:
        try:
            built[form.id] = _build_checked(catalogue, form, lookup, previous)
        except FormBuildError as error:
            errors.extend(error.errors)
    warnings = [warning for form in built.values() for warning in form.warnings]
    if validate and built:
        validate_errors, validate_warnings = odk_validate_all({form_id: form.xform for form_id, form in built.items()})
        errors.extend(validate_errors)
        warnings.extend(validate_warnings)
    if errors:
        raise FormBuildError(errors)
    manifest = new_manifest(catalogue, [form.manifest for form in built.values()])
    return BuildResult(out_dir, built, manifest, _write(out_dir, built, manifest), warnings)


def _write(out_dir: Path, built: dict[str, BuiltForm], manifest: Manifest) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    media: dict[str, bytes] = {}
    for form in built.values():
        xlsx = out_dir / form.manifest.xlsx
        write_xlsx(form.sheets, xlsx)
        xml = out_dir / form.manifest.xml
        xml.write_bytes(form.xform.encode("utf-8"))
        files += [xlsx, xml]
        media.update(form.media)
    for name, data in sorted(media.items()):
        path = out_dir / name
        path.write_bytes(data)
        files.append(path)
    files.append(write_manifest(manifest, out_dir))
    return files
