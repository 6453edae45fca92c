"""Catalogue form spec → XLSForm rows (the dict `pyxform.xls2xform.convert()` takes, and the .xlsx sheets).

Every label, hint and message is written in both languages (`label::Français (fr)`, `label::العربية (ar)`),
metadata questions come first, and `dimension:CODE` choices are the dimension's values with their ancestors'
codes as extra columns, so the form offers exactly the codes the analysis groups by and can cascade.
"""

from catalogue.model import Catalogue, FormSpec, Question, walk_questions
from xlsforms.columns import DEFAULT_LANGUAGE, FORM_STYLE, METADATA, Row, Sheets, bilingual, translated
from xlsforms.lookup import DIMENSION_PREFIX, Lookup, dimension_list_name
from xlsforms.manifest import Manifest
from xlsforms.media import form_media
from xlsforms.version import content_hash, make_version, version_date

_CONTAINERS = {"group": ("begin_group", "end_group"), "repeat": ("begin_repeat", "end_repeat")}
_PLAIN_COLUMNS = ("relevant", "calculation", "default", "appearance", "parameters", "choice_filter", "repeat_count")


def form_rows(
    catalogue: Catalogue, form: FormSpec, lookup: Lookup | None = None, previous: Manifest | None = None
) -> Sheets:
    """The XLSForm of a form spec, its version included; raises KeyError on a media file naming no dimension.

    With the previous build's manifest, a form whose content has not changed keeps its previous version.
    """
    lookup = lookup or Lookup(catalogue)
    sheets = content_rows(lookup, form)
    digest = content_hash(sheets, form_media(lookup, form))
    before = previous.forms.get(form.id) if previous is not None else None
    if before is not None and before.content_hash == digest:
        version = before.version
    else:
        version = make_version(version_date(catalogue, form), digest)
    sheets["settings"][0]["version"] = version
    return sheets


def content_rows(lookup: Lookup, form: FormSpec) -> Sheets:
    """The sheets of a form without a version: what the version hashes."""
    survey: list[Row] = [{"type": kind, "name": name} for kind, name in METADATA]
    for question in form.questions:
        survey.extend(_question_rows(lookup, question))
    sheets: Sheets = {"survey": survey}
    choices = _choice_rows(lookup, form)
    if choices:
        sheets["choices"] = choices
    sheets["settings"] = [_settings_row(form)]
    return sheets


def _question_type(lookup: Lookup, question: Question) -> str:
    if question.type in _CONTAINERS:
        return _CONTAINERS[question.type][0]
    if question.type == "select_one_from_file":
        return f"select_one_from_file {question.file}"
    if question.type in ("select_one", "select_multiple"):
        dim_code = lookup.choice_dimension(question)
        return f"{question.type} {dimension_list_name(dim_code) if dim_code else question.choices}"
    return question.type


def _question_rows(lookup: Lookup, question: Question) -> list[Row]:
    row: Row = {"type": _question_type(lookup, question), "name": question.name}
    row |= translated("label", question.label) | translated("hint", question.hint)
    if question.required:
        row["required"] = "yes"
        row |= translated("required_message", question.required_message)
    if question.constraint is not None:
        row["constraint"] = question.constraint
        row |= translated("constraint_message", question.constraint_message)
    for column in _PLAIN_COLUMNS:
        value = getattr(question, column)
        if value is not None:
            row[column] = value
    if question.read_only:
        row["read_only"] = "yes"
    rows = [row]
    if question.type in _CONTAINERS:
        for child in question.questions:
            rows.extend(_question_rows(lookup, child))
        rows.append({"type": _CONTAINERS[question.type][1]})
    return rows


def used_lists(form: FormSpec) -> list[str]:
    """Choice sources a form needs, in order: its own lists, then catalogue lists and dimensions as first used.

    Catalogue lists and dimensions a form does not use are left out, so editing them leaves its version alone.
    """
    names = [choice_list.name for choice_list in form.choice_lists]
    for _, question in walk_questions(form.questions):
        if question.type in ("select_one", "select_multiple") and question.choices and question.choices not in names:
            names.append(question.choices)
    return names


def _choice_rows(lookup: Lookup, form: FormSpec) -> list[Row]:
    rows: list[Row] = []
    for source in used_lists(form):
        dim_code = source.removeprefix(DIMENSION_PREFIX) if source.startswith(DIMENSION_PREFIX) else None
        if dim_code is not None:
            list_name = dimension_list_name(dim_code)
            for value in lookup.value_rows(dim_code):
                rows.append({"list_name": list_name, "name": value.code, **translated("label", value.value.label)})
                rows[-1] |= value.ancestors
            continue
        choice_list = lookup.choice_list(form, source)
        if choice_list is None:
            raise KeyError(f"form '{form.id}': choice list '{source}' does not exist")
        for choice in choice_list.choices:
            rows.append({"list_name": choice_list.name, "name": choice.code, **translated("label", choice.label)})
            if choice.score is not None:
                rows[-1]["score"] = f"{choice.score:g}"
    return rows


def _settings_row(form: FormSpec) -> Row:
    row: Row = {
        "form_id": form.id,
        "form_title": bilingual(form.title),
        "default_language": DEFAULT_LANGUAGE,
    }
    if form.instance_name is not None:
        row["instance_name"] = form.instance_name
    row["style"] = FORM_STYLE
    return row
