"""Checks before a build: the catalogue's consistency, plus the few rules that only rendering XLSForms needs.

Whether a catalogue is consistent (references between sections, `${name}` references, choices, question
names, indicator measures, disaggregations) is `catalogue.validation`'s to say, in one wording: a build runs
its rules on the catalogue in memory. What is checked here is what the form generator alone relies on: media
file names that name a dimension, choice_filter columns that exist in the choices, and choice list names that
do not collide with the ones generated for dimensions. Pure functions over a `Catalogue` (no IO), returning
every problem as one message naming the form and the question, so a build can refuse with the whole list.
"""

import re
from collections.abc import Collection, Iterator

from catalogue.model import Catalogue, FormSpec, Question, walk_questions
from catalogue.validation import REFERENCE, consistency_problems
from xlsforms.lookup import Lookup, dimension_list_name
from xlsforms.media import media_columns
from xlsforms.rows import used_lists

_XPATH_WORDS = {"and", "or", "div", "mod"}
_LITERAL = re.compile(r"'[^']*'|\"[^\"]*\"")
_IDENTIFIER = re.compile(r"[A-Za-z_][\w.-]*")


def check_catalogue(catalogue: Catalogue, form_ids: Collection[str] | None = None) -> list[str]:
    """Every problem of the catalogue, or of the given forms and the indicators measured on them.

    The catalogue validator's problems come first (its wording), then the rendering problems of the forms.
    """
    errors = consistency_problems(catalogue, form_ids)
    lookup = Lookup(catalogue)
    for form in catalogue.forms:
        if form_ids is None or form.id in form_ids:
            errors.extend(rendering_errors(lookup, form))
    return errors


def rendering_errors(lookup: Lookup, form: FormSpec) -> list[str]:
    """The problems that would stop one form from being rendered: media files, choice_filter columns, list names."""
    return list(_rendering_errors(lookup, form))


def _rendering_errors(lookup: Lookup, form: FormSpec) -> Iterator[str]:
    for _, question in walk_questions(form.questions):
        where = f"form '{form.id}', question '{question.name}'"
        if question.type == "select_one_from_file" and question.file and lookup.media_dimension(question.file) is None:
            codes = ", ".join(sorted(lookup.dimensions)) or "none"
            yield (
                f"{where}: media file '{question.file}' maps to no dimension; name it <dimension>.csv or "
                f"<dimension>s.csv (dimensions: {codes})"
            )
        if question.choice_filter is not None:
            yield from _choice_filter_errors(lookup, form, question)
    sources = used_lists(form)
    generated = {dimension_list_name(source.split(":", 1)[1]) for source in sources if ":" in source}
    for source in sources:
        if source in generated:
            yield (
                f"form '{form.id}': choice list '{source}' takes the name generated for a dimension's choices; "
                "rename it"
            )


def _choice_filter_columns(lookup: Lookup, form: FormSpec, question: Question) -> tuple[str, list[str]] | None:
    """What a choice_filter may name bare: the columns of the question's choices, or None if unknown."""
    dim_code = lookup.source_dimension(question)
    if dim_code is not None and dim_code not in lookup.dimensions:
        return None
    if question.type == "select_one_from_file":
        if dim_code is None:
            return None
        return f"media file '{question.file}'", media_columns(lookup, dim_code)
    if dim_code is not None:
        return f"dimension '{dim_code}'", ["name", "itextId", *lookup.ancestors(dim_code)]
    choice_list = lookup.choice_list(form, question.choices or "")
    if choice_list is None:
        return None
    scored = ["score"] if any(choice.score is not None for choice in choice_list.choices) else []
    return f"choice list '{choice_list.name}'", ["name", "itextId", *scored]


def _choice_filter_errors(lookup: Lookup, form: FormSpec, question: Question) -> Iterator[str]:
    """Bare names in a choice_filter must be columns of the choices; paths and functions are left to ODK Validate."""
    columns = _choice_filter_columns(lookup, form, question)
    source = _LITERAL.sub("''", REFERENCE.sub("''", question.choice_filter or ""))
    if columns is None or "/" in source:
        return
    where, allowed = columns
    for match in _IDENTIFIER.finditer(source):
        before = source[: match.start()].rstrip()[-1:]
        after = source[match.end() :].lstrip()[:1]
        name = match.group()
        if name in _XPATH_WORDS or after == "(" or before in ("$", "@", ":") or name in allowed:
            continue
        yield (
            f"form '{form.id}', question '{question.name}': choice_filter uses '{name}', which is not a column "
            f"of {where} (columns: {', '.join(allowed)})"
        )
