"""Validation of a catalogue file: every error at once, each as `PATH:LINE: message`.

Items are validated one by one so a broken indicator does not hide the errors of the others, then the rules
that need the whole catalogue run on the items that are well formed: references between sections, codes,
periods, names and `${name}` references in forms, and whether each indicator's measure can be computed from
the form it names. This module is the one place those rules live: `consistency_problems` runs them on a
catalogue already in memory (the form generator checks with it before it builds).
"""

import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from catalogue.filters import FilterSyntaxError, compared_values, fields, parse_filter
from catalogue.model import (
    CHOICE_TYPES,
    CODE_PATTERN,
    FORM_METADATA,
    LIFE_OF_PROGRAMME,
    NAME_PATTERN,
    PERIOD_PATTERN,
    RESERVED_QUESTION_NAMES,
    RESULT_LEVEL_ORDER,
    UNKNOWN,
    VALUE_PATTERN,
    Aggregation,
    Catalogue,
    ChoiceList,
    Dimension,
    FormSpec,
    Indicator,
    MeasureType,
    Programme,
    Question,
    ResultLevel,
    ResultNode,
    Revision,
    Text,
    media_file_dimension,
    walk_questions,
)
from catalogue.periods import quarters_between
from catalogue.reader import LIST_SECTIONS, read_document
from catalogue.reference import dimension_values
from catalogue.yamlsource import Located, Path_, Problem


class CatalogueInvalid(Exception):
    """A catalogue with errors; `problems` holds every one of them, sorted by file and line."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(problem) for problem in self.problems))


_SECTION_MODELS: dict[str, type[BaseModel]] = {
    "results": ResultNode,
    "dimensions": Dimension,
    "choice_lists": ChoiceList,
    "indicators": Indicator,
    "forms": FormSpec,
}
_SECTION_NOUN = {
    "results": "result",
    "dimensions": "dimension",
    "choice_lists": "choice list",
    "indicators": "indicator",
    "forms": "form",
}
_SCALAR_SECTIONS: dict[str, Any] = {
    "sera_catalogue": TypeAdapter(Catalogue.model_fields["sera_catalogue"].annotation),
    "programme": TypeAdapter(Programme),
    "revision": TypeAdapter(Revision),
}
_PATTERN_HELP = {
    CODE_PATTERN: "a code starts with a letter and has only letters, digits, '.', '_' and '-'",
    NAME_PATTERN: "a name starts with a letter or '_' and has only letters, digits and '_' (XLSForm names)",
    VALUE_PATTERN: "a value code has only letters, digits, '.', '_' and '-'",
    PERIOD_PATTERN: "a period is a quarter such as 2026Q3, or LOP for the life of the programme",
}
NUMERIC_TYPES = ("integer", "decimal", "calculate", "range")
DATE_TYPES = ("date", "datetime", "calculate", "start", "end", "today")
"""Types an activity_date may have: date questions, calculations, and the date metadata of every form."""
REFERENCE = re.compile(r"\$\{([^}]*)\}")
"""A `${name}` reference to a question in an XLSForm expression or text."""
_EXPRESSIONS = ("relevant", "constraint", "calculation", "choice_filter", "repeat_count", "default")
_TEXTS = ("label", "hint", "required_message", "constraint_message")
_LANGUAGES = ("fr", "ar")
_DIMENSION_PREFIX = "dimension:"


def _item_name(item: Any) -> str | None:
    if isinstance(item, dict):
        for key in ("code", "id", "name", "period"):
            if isinstance(item.get(key), str | int):
                return str(item[key])
    return None


def _render(data: Any, loc: Iterable[str | int]) -> tuple[Path_, str]:
    """Turn a pydantic location into a path that exists in the data and a readable label for it.

    Union members show up in pydantic locations as type names; they are not in the data and are skipped.
    """
    path: list[str | int] = []
    label = ""
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            label += f".{part}" if label else str(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            label += f"[{_item_name(node[part]) or part}]"
        elif isinstance(node, dict | list):
            label += f".{part}" if label else str(part)
            path.append(part)
            break
        else:
            continue
        path.append(part)
        node = node[part]
    return tuple(path), label


def _pydantic_problems(doc: Located, base: Path_, noun: str, error: ValidationError) -> Iterator[Problem]:
    data = doc.data
    for part in base:
        data = data[part]
    for detail in error.errors(include_url=False):
        loc = tuple(detail["loc"])
        path, label = _render(data, loc)
        kind = detail["type"]
        if kind == "missing":
            message = f"missing field '{loc[-1]}'"
            label = _render(data, loc[:-1])[1]
        elif kind == "extra_forbidden":
            message = f"unknown key '{loc[-1]}'"
            label = _render(data, loc[:-1])[1]
        else:
            pattern = detail.get("ctx", {}).get("pattern") if kind == "string_pattern_mismatch" else None
            message = _PATTERN_HELP.get(pattern or "", detail["msg"].removeprefix("Value error, "))
            given = detail.get("input")
            if isinstance(given, str | int | float) and f"'{given}'" not in message and kind != "value_error":
                message += f" (got {given!r})"
        prefix = ": ".join(part for part in (noun, label) if part)
        yield doc.problem((*base, *path), f"{prefix}: {message}" if prefix else message)


@dataclass
class _Parsed:
    """The well-formed parts of a catalogue, with the path each item came from."""

    programme: Programme | None = None
    revision: Revision | None = None
    version: int | None = None
    items: dict[str, list[tuple[int, Any]]] = field(default_factory=dict)
    raw_codes: dict[str, set[str]] = field(default_factory=dict)

    def of(self, section: str) -> list[tuple[int, Any]]:
        return self.items.get(section, [])


def _parse(doc: Located, problems: list[Problem]) -> _Parsed:
    parsed = _Parsed()
    data = doc.data
    allowed = set(_SCALAR_SECTIONS) | set(LIST_SECTIONS)
    expected = ", ".join(sorted(allowed))
    problems.extend(
        doc.problem((key,), f"unknown section '{key}'; expected one of {expected}")
        for key in data
        if key not in allowed
    )
    for key, adapter in _SCALAR_SECTIONS.items():
        if key not in data:
            problems.append(doc.problem((), f"missing section '{key}'"))
            continue
        try:
            value = adapter.validate_python(data[key])
        except ValidationError as error:
            problems.extend(_pydantic_problems(doc, (key,), key, error))
            continue
        if key == "programme":
            parsed.programme = value
        elif key == "revision":
            parsed.revision = value
        else:
            parsed.version = value
    for section, model in _SECTION_MODELS.items():
        items = data.get(section, [])
        if not isinstance(items, list):
            problems.append(doc.problem((section,), f"'{section}' must be a list"))
            continue
        noun = _SECTION_NOUN[section]
        parsed.raw_codes[section] = {name for item in items if (name := _item_name(item))}
        for index, item in enumerate(items):
            name = _item_name(item)
            try:
                value = model.model_validate(item)
            except ValidationError as error:
                problems.extend(_pydantic_problems(doc, (section, index), f"{noun} '{name or index}'", error))
                continue
            parsed.items.setdefault(section, []).append((index, value))
    return parsed


def _first_at(doc: Located, path: Path_) -> str:
    """` (first at line N)` for a repeated entry, or nothing for a catalogue in memory (it has no lines)."""
    return f" (first at line {doc.where(path)[1]})" if doc.lines else ""


def _duplicates(doc: Located, entries: Iterable[tuple[Path_, str]], what: str) -> Iterator[Problem]:
    first: dict[str, Path_] = {}
    for path, code in entries:
        if code in first:
            yield doc.problem(path, f"duplicate {what} '{code}'{_first_at(doc, first[code])}")
        else:
            first[code] = path


def _literal_code(value: str | float | bool) -> str | None:
    """The choice code a filter literal stands for (`1` for 1.0), or None for true/false, which name no code."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        return f"{value:g}"
    return value


class _Checker:
    """The rules that need the whole catalogue; each method yields problems for one section.

    With `form_ids`, only those forms and the indicators measured on them are checked; the results chain,
    dimensions, choice lists and section codes, which every form relies on, always are.
    """

    def __init__(self, doc: Located, parsed: _Parsed, form_ids: Collection[str] | None = None) -> None:
        self.doc = doc
        self.parsed = parsed
        self.form_ids = form_ids
        self.results = {node.code: node for _, node in parsed.of("results")}
        self.dimensions = {dim.code: dim for _, dim in parsed.of("dimensions")}
        self.choice_lists = {lst.name: lst for _, lst in parsed.of("choice_lists")}
        self.forms = {form.id: form for _, form in parsed.of("forms")}
        self.values = {code: {v.code: v for v in dimension_values(dim)} for code, dim in self.dimensions.items()}

    def problem(self, path: Path_, message: str) -> Problem:
        return self.doc.problem(path, message)

    def is_dimension(self, code: str) -> bool:
        """Whether a dimension of that code is written, even if it has errors of its own (reported already)."""
        return code in self.dimensions or code in self.parsed.raw_codes.get("dimensions", set())

    def in_scope(self, form_id: str) -> bool:
        return self.form_ids is None or form_id in self.form_ids

    def run(self) -> Iterator[Problem]:
        for section in _SECTION_MODELS:
            codes = (
                ((section, index), _item_name(self.doc.data[section][index]) or "")
                for index, _ in self.parsed.of(section)
            )
            yield from _duplicates(self.doc, codes, f"{_SECTION_NOUN[section]} code")
        yield from self.check_results()
        yield from self.check_dimensions()
        for index, choice_list in self.parsed.of("choice_lists"):
            yield from self.check_choice_list(("choice_lists", index), choice_list)
        for index, form in self.parsed.of("forms"):
            if self.in_scope(form.id):
                yield from self.check_form(("forms", index), form)
        for index, indicator in self.parsed.of("indicators"):
            if self.in_scope(indicator.measure.form):
                yield from self.check_indicator(("indicators", index), indicator)

    # -- results chain -------------------------------------------------------------------------------------

    def check_results(self) -> Iterator[Problem]:
        nodes = self.parsed.of("results")
        if nodes and not any(node.level is ResultLevel.impact for _, node in nodes):
            yield self.problem(("results",), "the results chain has no impact (general objective)")
        known = self.parsed.raw_codes.get("results", set())
        for index, node in nodes:
            path = ("results", index)
            if node.level is ResultLevel.impact:
                if node.parent is not None:
                    yield self.problem((*path, "parent"), f"result '{node.code}' is an impact and cannot have a parent")
                continue
            if node.parent is None:
                yield self.problem(path, f"result '{node.code}' ({node.level}) needs a parent")
                continue
            parent = self.results.get(node.parent)
            if parent is None:
                if node.parent not in known:
                    yield self.problem(
                        (*path, "parent"), f"result '{node.code}' has parent '{node.parent}', which is not a result"
                    )
                continue
            step = RESULT_LEVEL_ORDER[node.level] - RESULT_LEVEL_ORDER[parent.level]
            if step not in (0, 1) or (step == 0 and node.level is not ResultLevel.outcome):
                yield self.problem(
                    (*path, "parent"),
                    f"result '{node.code}' ({node.level}) cannot hang on '{parent.code}' ({parent.level})",
                )
        yield from self._cycles(
            {code: node.parent for code, node in self.results.items()}, "results", "result", lambda c: c
        )

    def _cycles(self, parents: dict[str, str | None], section: str, noun: str, key: Any) -> Iterator[Problem]:
        index_of = {_item_name(item): i for i, item in enumerate(self.doc.data.get(section, []))}
        reported: set[str] = set()
        for start in parents:
            seen: list[str] = []
            code: str | None = start
            while code is not None and code in parents and code not in seen:
                seen.append(code)
                code = parents[code]
            if code is not None and code in seen and code not in reported:
                loop = seen[seen.index(code) :]
                reported.update(loop)
                yield self.problem(
                    (section, index_of.get(code, 0), "parent"),
                    f"{noun} parents form a loop: {' → '.join([*loop, code])}",
                )

    # -- dimensions and choices ----------------------------------------------------------------------------

    def check_dimensions(self) -> Iterator[Problem]:
        known = self.parsed.raw_codes.get("dimensions", set())
        for index, dim in self.parsed.of("dimensions"):
            path = ("dimensions", index)
            values = dimension_values(dim)
            inline_offset = len(values) - len(dim.values)
            entries = [
                ((*path, "values", i - inline_offset) if i >= inline_offset else (*path, "reference"), v.code)
                for i, v in enumerate(values)
            ]
            yield from _duplicates(self.doc, entries, f"value of dimension '{dim.code}'")
            if UNKNOWN not in {v.code for v in values}:
                yield self.problem(path, f"dimension '{dim.code}' has no '{UNKNOWN}' value; every dimension needs one")
            parent = self.dimensions.get(dim.parent) if dim.parent else None
            if dim.parent and parent is None and dim.parent not in known:
                yield self.problem(
                    (*path, "parent"), f"dimension '{dim.code}' has parent '{dim.parent}', which is not a dimension"
                )
            for i, value in enumerate(dim.values):
                value_path = (*path, "values", i)
                if value.code == UNKNOWN:
                    continue
                if dim.parent is None and value.parent is not None:
                    yield self.problem(
                        (*value_path, "parent"),
                        f"value '{value.code}' of dimension '{dim.code}' has a parent but the dimension has none",
                    )
                elif parent is not None:
                    if value.parent is None:
                        yield self.problem(
                            value_path, f"value '{value.code}' of dimension '{dim.code}' needs a parent ({parent.code})"
                        )
                    elif value.parent not in self.values[parent.code]:
                        yield self.problem(
                            (*value_path, "parent"),
                            f"value '{value.code}' of dimension '{dim.code}' has parent '{value.parent}', "
                            f"which is not a value of '{parent.code}'",
                        )
            if parent is not None and dim.reference is not None:
                orphans = [v.code for v in values[:inline_offset] if v.parent not in self.values[parent.code]]
                if orphans:
                    yield self.problem(
                        (*path, "reference"),
                        f"dimension '{dim.code}' takes {dim.reference.value} but {len(orphans)} of its values "
                        f"(first: {orphans[0]}) have no parent in '{parent.code}'",
                    )
        yield from self._cycles(
            {c: d.parent for c, d in self.dimensions.items()}, "dimensions", "dimension", lambda c: c
        )

    def check_choice_list(self, path: Path_, choice_list: ChoiceList) -> Iterator[Problem]:
        entries = (((*path, "choices", i), c.code) for i, c in enumerate(choice_list.choices))
        yield from _duplicates(self.doc, entries, f"choice in list '{choice_list.name}'")

    # -- forms ---------------------------------------------------------------------------------------------

    def source_dimension(self, question: Question) -> str | None:
        """The dimension whose values a select question offers (`dimension:CODE`, or a media file named after it)."""
        if question.type == "select_one_from_file" and question.file:
            codes = set(self.dimensions) | self.parsed.raw_codes.get("dimensions", set())
            return media_file_dimension(question.file, codes)
        if question.type in CHOICE_TYPES and question.choices and question.choices.startswith(_DIMENSION_PREFIX):
            code = question.choices.removeprefix(_DIMENSION_PREFIX)
            return code if self.is_dimension(code) else None
        return None

    def choices_of(self, form: FormSpec, question: Question) -> set[str] | None:
        """The codes a select question can take, or None when they cannot be known."""
        dim_code = self.source_dimension(question)
        if dim_code is not None:
            return set(self.values[dim_code]) if dim_code in self.values else None
        ref = question.choices
        if ref is None or question.type not in CHOICE_TYPES:
            return None
        for choice_list in (*form.choice_lists, *self.choice_lists.values()):
            if choice_list.name == ref:
                return {choice.code for choice in choice_list.choices}
        return None

    def check_form(self, path: Path_, form: FormSpec) -> Iterator[Problem]:
        what = f"form '{form.id}'"
        for i, choice_list in enumerate(form.choice_lists):
            yield from self.check_choice_list((*path, "choice_lists", i), choice_list)
        yield from _duplicates(
            self.doc,
            (((*path, "choice_lists", i), c.name) for i, c in enumerate(form.choice_lists)),
            f"choice list in {what}",
        )
        located = list(_located_questions(form.questions, (*path, "questions")))
        yield from _duplicates(self.doc, ((q_path, q.name) for q_path, q in located), f"question name in {what}")
        questions = dict(walk_questions_named(form))
        metadata = {name: kind for kind, name in FORM_METADATA}
        known = set(questions) | set(metadata)
        list_names = {c.name for c in form.choice_lists} | set(self.choice_lists)
        for q_path, question in located:
            name = question.name
            where = f"{what}, question '{name}'"
            if name in RESERVED_QUESTION_NAMES:
                yield self.problem(
                    (*q_path, "name"), f"{where}: the name is reserved for the metadata the form records"
                )
            ref = question.choices
            if ref is not None:
                if ref.startswith(_DIMENSION_PREFIX):
                    if not self.is_dimension(ref.removeprefix(_DIMENSION_PREFIX)):
                        yield self.problem((*q_path, "choices"), f"{where}: choices '{ref}' names no dimension")
                elif ref not in list_names:
                    yield self.problem((*q_path, "choices"), f"{where}: choice list '{ref}' does not exist")
            for attribute in _EXPRESSIONS:
                for ref_name in references(getattr(question, attribute)):
                    if ref_name not in known:
                        yield self.problem(
                            (*q_path, attribute),
                            f"{where}: {attribute} refers to ${{{ref_name}}}, which is not a question of the form",
                        )
            for attribute in _TEXTS:
                text: Text | None = getattr(question, attribute)
                for language in _LANGUAGES if text is not None else ():
                    for ref_name in references(getattr(text, language)):
                        if ref_name not in known:
                            yield self.problem(
                                (*q_path, attribute, language),
                                f"{where}: {attribute} ({language}) refers to ${{{ref_name}}}, "
                                "which is not a question of the form",
                            )
        for ref_name in references(form.instance_name):
            if ref_name not in known:
                yield self.problem(
                    (*path, "instance_name"),
                    f"{what}: instance_name refers to ${{{ref_name}}}, which is not a question of the form",
                )
        date_question = questions.get(form.activity_date)
        date_type = date_question.type if date_question else metadata.get(form.activity_date)
        if date_type is None:
            yield self.problem(
                (*path, "activity_date"), f"{what}: activity_date '{form.activity_date}' is not a question of the form"
            )
        elif date_type not in DATE_TYPES:
            yield self.problem(
                (*path, "activity_date"),
                f"{what}: activity_date '{form.activity_date}' is a {date_type} question, not a date",
            )
        for i, name in enumerate(form.person_identifiers):
            if name not in questions:
                yield self.problem(
                    (*path, "person_identifiers", i),
                    f"{what}: person identifier '{name}' is not a question of the form",
                )
        if form.organisation is not None and form.organisation not in questions:
            yield self.problem(
                (*path, "organisation"), f"{what}: organisation '{form.organisation}' is not a question of the form"
            )
        for dim_code, name in form.dimensions.items():
            at = (*path, "dimensions", dim_code)
            if not self.is_dimension(dim_code):
                yield self.problem(at, f"{what}: '{dim_code}' is not a dimension")
            feeding = questions.get(name)
            if feeding is None:
                yield self.problem(
                    at, f"{what}: dimension '{dim_code}' is fed by '{name}', which is not a question of the form"
                )
                continue
            source = self.source_dimension(feeding)
            if source is not None and source != dim_code and self.is_dimension(dim_code):
                yield self.problem(
                    at, f"{what}: dimension '{dim_code}' is fed by '{name}', which offers the values of '{source}'"
                )

    def fed_dimensions(self, form: FormSpec) -> set[str]:
        """Dimensions a form gives: those it maps, and their ancestors (a commune gives its province and region)."""
        fed: set[str] = set()
        for code in form.dimensions:
            while code is not None and code not in fed:
                fed.add(code)
                dim = self.dimensions.get(code)
                code = dim.parent if dim else None
        return fed

    # -- indicators ----------------------------------------------------------------------------------------

    def check_indicator(self, path: Path_, indicator: Indicator) -> Iterator[Problem]:
        what = f"indicator '{indicator.code}'"
        programme = self.parsed.programme
        if indicator.result not in self.results and indicator.result not in self.parsed.raw_codes.get("results", set()):
            yield self.problem((*path, "result"), f"{what}: result '{indicator.result}' does not exist")
        for i, dim_code in enumerate(indicator.disaggregations):
            if not self.is_dimension(dim_code):
                yield self.problem(
                    (*path, "disaggregations", i), f"{what}: disaggregation '{dim_code}' is not a dimension"
                )
        yield from _duplicates(
            self.doc,
            (((*path, "disaggregations", i), d) for i, d in enumerate(indicator.disaggregations)),
            f"disaggregation of {what}",
        )
        periods = set(quarters_between(programme.first_period, programme.last_period)) if programme else None
        if programme and indicator.baseline.date > programme.end:
            yield self.problem(
                (*path, "baseline", "date"),
                f"{what}: baseline date {indicator.baseline.date} is after the end of the programme ({programme.end})",
            )
        seen: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
        for i, target in enumerate(indicator.targets):
            t_path = (*path, "targets", i)
            if periods is not None and target.period != LIFE_OF_PROGRAMME and target.period not in periods:
                yield self.problem(
                    (*t_path, "period"),
                    f"{what}: target period {target.period} is outside the programme "
                    f"({programme.first_period}–{programme.last_period})",  # type: ignore[union-attr]
                )
            key = (target.period, tuple(sorted(target.by.items())))
            if key in seen:
                yield self.problem(
                    t_path,
                    f"{what}: a second target for {target.period}{_by(target.by)}"
                    + _first_at(self.doc, (*path, "targets", seen[key])),
                )
            seen.setdefault(key, i)
            if indicator.measure_type is MeasureType.percentage and not 0 <= target.value <= 100:
                yield self.problem(
                    (*t_path, "value"), f"{what}: a percentage target must be between 0 and 100 (got {target.value:g})"
                )
            for dim_code, value_code in target.by.items():
                if dim_code not in indicator.disaggregations:
                    yield self.problem(
                        (*t_path, "by"),
                        f"{what}: target split by '{dim_code}', which is not one of its disaggregations",
                    )
                elif dim_code in self.values and value_code not in self.values[dim_code]:
                    yield self.problem(
                        (*t_path, "by"),
                        f"{what}: target split by {dim_code} = '{value_code}', which is not a value of '{dim_code}'",
                    )
        yield from self.check_measure(path, indicator)

    def check_measure(self, path: Path_, indicator: Indicator) -> Iterator[Problem]:
        what = f"indicator '{indicator.code}'"
        measure = indicator.measure
        m_path = (*path, "measure")
        form = self.forms.get(measure.form)
        if form is None:
            if measure.form not in self.parsed.raw_codes.get("forms", set()):
                yield self.problem((*m_path, "form"), f"{what}: measure form '{measure.form}' does not exist")
            return
        questions = dict(walk_questions_named(form))
        where = f"{what}, form '{form.id}'"

        def question(name: str | None, at: Path_, numeric: bool) -> Iterator[Problem]:
            if name is None:
                return
            found = questions.get(name)
            if found is None:
                yield self.problem(at, f"{where}: question '{name}' does not exist in the form")
            elif numeric and found.type not in NUMERIC_TYPES:
                yield self.problem(at, f"{where}: question '{name}' is {found.type}, not a number")

        def filter_problems(source: str | None, at: Path_) -> Iterator[Problem]:
            if source is None:
                return
            try:
                expr = parse_filter(source)
            except FilterSyntaxError as error:
                yield self.problem(at, f"{where}: filter: {error}")
                return
            for name in dict.fromkeys(fields(expr)):
                if name not in questions:
                    yield self.problem(at, f"{where}: filter uses '{name}', which is not a question of the form")
            for name, value in compared_values(expr):
                target = questions.get(name)
                codes = self.choices_of(form, target) if target else None
                code = _literal_code(value)
                if codes is not None and code is not None and code not in codes:
                    yield self.problem(
                        at, f"{where}: filter compares '{name}' with '{code}', which is not one of its choices"
                    )

        numeric = measure.aggregation in (Aggregation.sum, Aggregation.mean)
        yield from question(measure.question, (*m_path, "question"), numeric)
        yield from question(measure.pre, (*m_path, "pre"), True)
        yield from question(measure.post, (*m_path, "post"), True)
        yield from filter_problems(measure.filter, (*m_path, "filter"))
        for side in ("numerator", "denominator"):
            term = getattr(measure, side)
            if term is None:
                continue
            yield from question(term.question, (*m_path, side, "question"), term.aggregation in ("sum", "mean"))
            yield from filter_problems(term.filter, (*m_path, side, "filter"))
        people = measure.aggregation is Aggregation.distinct_people or any(
            term is not None and term.aggregation == "distinct_people"
            for term in (measure.numerator, measure.denominator)
        )
        if people and not form.person_identifiers:
            yield self.problem(
                (*m_path, "aggregation"), f"{where}: counting distinct people needs person_identifiers in the form"
            )
        fed = self.fed_dimensions(form)
        for i, dim_code in enumerate(indicator.disaggregations):
            if dim_code in self.dimensions and dim_code not in fed:
                yield self.problem(
                    (*path, "disaggregations", i),
                    f"{where}: disaggregation '{dim_code}' is not asked by the form (add it to the form's dimensions)",
                )


def _by(by: dict[str, str]) -> str:
    return "" if not by else " (" + ", ".join(f"{k} = {v}" for k, v in sorted(by.items())) + ")"


def references(expression: str | None) -> list[str]:
    """The question names an XLSForm expression or text refers to as `${name}`, in order, without repeats."""
    return list(dict.fromkeys(REFERENCE.findall(expression or "")))


def _located_questions(questions: list[Question], base: Path_) -> Iterator[tuple[Path_, Question]]:
    """Every question of a tree with its path in the document, depth first, duplicates included."""
    for i, question in enumerate(questions):
        yield (*base, i), question
        yield from _located_questions(question.questions, (*base, i, "questions"))


def walk_questions_all(form: FormSpec) -> Iterator[tuple[str, Question]]:
    """Every question of a form with its name, duplicates included."""
    for qpath, question in walk_questions(form.questions):
        yield qpath[-1], question


def walk_questions_named(form: FormSpec) -> Iterator[tuple[str, Question]]:
    """Every question of a form by name (the first, if a name repeats)."""
    seen: set[str] = set()
    for name, question in walk_questions_all(form):
        if name not in seen:
            seen.add(name)
            yield name, question


def validate_document(doc: Located) -> Catalogue:
    """Validate a read document; raises CatalogueInvalid with every problem found."""
    problems = list(doc.problems)
    if doc.data is None:
        raise CatalogueInvalid(problems)
    if not isinstance(doc.data, dict):
        raise CatalogueInvalid([*problems, doc.problem((), "a catalogue is a mapping of sections")])
    parsed = _parse(doc, problems)
    problems.extend(_Checker(doc, parsed).run())
    if problems:
        raise CatalogueInvalid(problems)
    return Catalogue.model_validate(doc.data)


def consistency_problems(catalogue: Catalogue, form_ids: Collection[str] | None = None) -> list[str]:
    """The rules of `sera catalogue validate` that need the whole catalogue, run on a catalogue in memory.

    Field-level rules already hold for a `Catalogue` (the models enforce them); this returns the messages of
    the others, in section order, without file or line (there is none). With `form_ids`, only those forms
    and the indicators measured on them are checked, with the sections every form relies on.
    """
    doc = Located(data=catalogue.model_dump(mode="python"))
    parsed = _Parsed(programme=catalogue.programme, revision=catalogue.revision, version=catalogue.sera_catalogue)
    for section in _SECTION_MODELS:
        parsed.items[section] = list(enumerate(getattr(catalogue, section)))
        parsed.raw_codes[section] = {name for item in doc.data[section] if (name := _item_name(item))}
    problems = _Checker(doc, parsed, form_ids).run()
    return list(dict.fromkeys(problem.message for problem in problems))


def read_catalogue(path: Path) -> Catalogue:
    """Read, merge and validate a catalogue file; raises CatalogueInvalid with every problem found."""
    return validate_document(read_document(path))
