"""Lookups over a catalogue that rows, media, checks and diffs share, so they never disagree on a code.

Built once per catalogue (`Lookup(catalogue)`): reference sets are expanded, values indexed, and the rules
that turn a question's `choices` or `file` into a list of codes live here and nowhere else.
"""

import re
from dataclasses import dataclass
from functools import cached_property

from catalogue.model import (
    Catalogue,
    ChoiceList,
    Dimension,
    DimensionValue,
    FormSpec,
    Question,
    media_file_dimension,
    walk_questions,
)
from catalogue.reference import dimension_values

DIMENSION_PREFIX = "dimension:"


def dimension_list_name(code: str) -> str:
    """The choices-sheet list name of `dimension:CODE`; list names must be XML names, codes may hold `.`/`-`."""
    return "dimension_" + re.sub(r"[^A-Za-z0-9_]", "_", code)


@dataclass(frozen=True)
class ValueRow:
    """A dimension value as forms use it: code, labels, and the codes of its ancestors, nearest first."""

    code: str
    value: DimensionValue
    ancestors: dict[str, str]
    """Ancestor dimension code → this value's ancestor value code ('' when unknown), for choice_filter cascades."""


class Lookup:
    """Indexes of one catalogue: dimensions, their values, choice lists, media files."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.dimensions: dict[str, Dimension] = {dim.code: dim for dim in catalogue.dimensions}
        self.choice_lists: dict[str, ChoiceList] = {lst.name: lst for lst in catalogue.choice_lists}
        self.forms: dict[str, FormSpec] = {form.id: form for form in catalogue.forms}

    @cached_property
    def _values(self) -> dict[str, list[DimensionValue]]:
        return {code: dimension_values(dim) for code, dim in self.dimensions.items()}

    def values(self, code: str) -> list[DimensionValue]:
        """All values of a dimension, reference set first; empty for an unknown dimension."""
        return self._values.get(code, [])

    def ancestors(self, code: str) -> list[str]:
        """The parent dimension codes of a dimension, nearest first; stops at a loop or an unknown parent."""
        chain: list[str] = []
        dim = self.dimensions.get(code)
        while dim is not None and dim.parent is not None and dim.parent not in chain and dim.parent != code:
            chain.append(dim.parent)
            dim = self.dimensions.get(dim.parent)
        return chain

    def value_rows(self, code: str) -> list[ValueRow]:
        """The values of a dimension with their ancestors' codes (a commune's province and region)."""
        chain = self.ancestors(code)
        parents = {dim: {v.code: v.parent for v in self.values(dim)} for dim in chain}
        rows = []
        for value in self.values(code):
            ancestors: dict[str, str] = {}
            current = value.parent
            for dim in chain:
                ancestors[dim] = current or ""
                current = parents[dim].get(current) if current else None
            rows.append(ValueRow(value.code, value, ancestors))
        return rows

    def choice_list(self, form: FormSpec, name: str) -> ChoiceList | None:
        """A choice list by name: the form's own lists first, then the catalogue's."""
        for choice_list in form.choice_lists:
            if choice_list.name == name:
                return choice_list
        return self.choice_lists.get(name)

    def choice_dimension(self, question: Question) -> str | None:
        """The dimension code of a `dimension:CODE` choices reference, else None."""
        if question.choices and question.choices.startswith(DIMENSION_PREFIX):
            return question.choices.removeprefix(DIMENSION_PREFIX)
        return None

    def media_dimension(self, filename: str) -> Dimension | None:
        """The dimension a media CSV lists (see `catalogue.model.media_file_dimension` for the naming rule)."""
        code = media_file_dimension(filename, self.dimensions)
        return self.dimensions[code] if code is not None else None

    def source_dimension(self, question: Question) -> str | None:
        """The dimension whose values a select question offers (via `dimension:` or a media file), if any."""
        if question.type == "select_one_from_file" and question.file:
            dim = self.media_dimension(question.file)
            return dim.code if dim else None
        return self.choice_dimension(question)

    def codes(self, form: FormSpec, question: Question) -> list[str] | None:
        """The codes a select question can take, or None when it is not a select or its source is unknown."""
        dim_code = self.source_dimension(question)
        if dim_code is not None:
            return [value.code for value in self.values(dim_code)] if dim_code in self.dimensions else None
        if question.type in ("select_one", "select_multiple") and question.choices:
            choice_list = self.choice_list(form, question.choices)
            return [choice.code for choice in choice_list.choices] if choice_list else None
        return None

    def fed_dimensions(self, form: FormSpec) -> dict[str, str]:
        """Dimension → feeding question, the form's map plus ancestors (a commune question gives province)."""
        fed = dict(form.dimensions)
        for code, question in form.dimensions.items():
            for dim in self.ancestors(code):
                fed.setdefault(dim, question)
        return fed


def questions_by_name(form: FormSpec) -> dict[str, tuple[tuple[str, ...], Question]]:
    """Name → (path, question) for every question of a form; the first one wins when a name repeats."""
    found: dict[str, tuple[tuple[str, ...], Question]] = {}
    for path, question in walk_questions(form.questions):
        found.setdefault(question.name, (path, question))
    return found
