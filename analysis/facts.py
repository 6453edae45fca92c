"""Typed facts: what the indicator engine needs from one submission, with no SQL.

One submission gives one fact row (row_index 0) and, for each repeat that a measure or a dimension of the form
reads, one row per repeat instance (row_index 1, 2, …). A repeat row inherits the answers of the submission and
of the repeat instances around it, so "sum of `reached_count` by `reached_sex`" is a sum over repeat rows that
also carry the submission's partner and region. Rows are placed in a quarter by the activity date the form
collects, never by the server's receive time.
"""

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from analysis.answers import Path, as_date, lookup, to_json, typed
from analysis.dimensions import DimensionIndex
from analysis.identity import person_key, pseudonym
from catalogue.filters import fields, parse_filter
from catalogue.model import FORM_METADATA, Catalogue, FormSpec, Indicator, Question, walk_questions
from catalogue.periods import quarter_of


@dataclass(frozen=True)
class Located:
    """Where a question's answer sits: its full path, its type and the innermost repeat around it (() if none)."""

    name: str
    path: Path
    type: str
    scope: Path
    pii: bool


@dataclass(frozen=True)
class FactRow:
    """The typed facts of a submission row, as stored in `analysis_fact` (values still Python-typed)."""

    row_index: int
    repeat: str | None
    activity_date: dt.date | None
    period: str | None
    person_key: str | None
    organisation: str | None
    dims: dict[str, str]
    values: dict[str, Any]

    def values_json(self) -> dict[str, Any]:
        return {name: (list(v) if isinstance(v, list) else to_json(v)) for name, v in self.values.items()}


def indicator_questions(indicator: Indicator) -> set[str]:
    """The questions an indicator's measure and filters read."""
    measure = indicator.measure
    names = {n for n in (measure.question, measure.pre, measure.post) if n}
    filters = [measure.filter]
    for term in (measure.numerator, measure.denominator):
        if term is not None:
            names.update([term.question] if term.question else [])
            filters.append(term.filter)
    for source in filters:
        if source:
            names.update(fields(parse_filter(source)))
    return names


def measure_scope(code: str, questions: Mapping[str, "Located"], names: set[str]) -> Path:
    """The repeat a measure is computed over: the deepest one its questions sit in, or () for submissions."""
    scopes = {questions[n].scope for n in names if n in questions} - {()}
    if not scopes:
        return ()
    deepest = max(scopes, key=len)
    for scope in scopes:
        if deepest[: len(scope)] != scope:
            raise ValueError(
                f"indicator '{code}' reads questions of two separate repeats ({'/'.join(scope)} and "
                f"{'/'.join(deepest)}): a measure is computed over one repeat's rows"
            )
    return deepest


def locate_questions(form: FormSpec) -> dict[str, Located]:
    """Every question of a form by name (the first if a name repeats), with the metadata the generator adds."""
    located: dict[str, Located] = {}
    for qtype, name in FORM_METADATA:
        located[name] = Located(name, (name,), qtype, (), False)
    repeats: dict[Path, Path] = {}

    def scope_of(path: Path) -> Path:
        enclosing = [p for p in repeats if path[: len(p)] == p and len(p) < len(path)]
        return max(enclosing, key=len) if enclosing else ()

    question: Question
    for path, question in walk_questions(form.questions):
        if question.type == "repeat":
            repeats[path] = path
        if question.name not in located:
            located[question.name] = Located(question.name, path, question.type, scope_of(path), question.pii)
    return located


@dataclass(frozen=True)
class FormPlan:
    """How to turn one form's submissions into fact rows: which answers to read, which repeats make rows."""

    form: FormSpec
    questions: dict[str, Located]
    value_names: tuple[str, ...]
    """Answers kept in `values`: what measures and filters read. A pii question among them is kept only as a
    keyed hash of its normalised answer (so `distinct` and `is not null` still work on it), never in clear."""
    read_names: tuple[str, ...]
    """Every answer read: values, dimensions, activity date, person identifiers, organisation."""
    row_repeats: tuple[Path, ...]
    """Repeats whose instances become fact rows, outermost first: those a measure is computed over (its
    questions' deepest repeat) and those a dimension of the form is asked in."""
    fed_dimensions: tuple[str, ...]
    index: DimensionIndex

    @classmethod
    def of(cls, catalogue: Catalogue, form: FormSpec, index: DimensionIndex) -> "FormPlan":
        questions = locate_questions(form)
        on_form = [i for i in catalogue.indicators if i.measure.form == form.id]
        measured = set().union(*(indicator_questions(i) for i in on_form))
        value_names = tuple(sorted(n for n in measured if n in questions))
        wanted = [
            *value_names,
            *form.dimensions.values(),
            form.activity_date,
            *form.person_identifiers,
            *([form.organisation] if form.organisation else []),
        ]
        read_names = tuple(dict.fromkeys(n for n in wanted if n in questions))
        levels = {measure_scope(i.code, questions, indicator_questions(i)) for i in on_form}
        row_scopes = levels | {questions[n].scope for n in form.dimensions.values() if n in questions}
        row_repeats = tuple(sorted((s for s in row_scopes if s), key=lambda p: (len(p), p)))
        return cls(form, questions, value_names, read_names, row_repeats, index.fed(form), index)

    def repeat_chain(self, repeat: Path) -> list[Path]:
        """The repeats from the outermost down to `repeat` (a repeat inside a repeat has two)."""
        chain = []
        scope = repeat
        while scope:
            chain.append(scope)
            scope = self.questions[scope[-1]].scope if scope[-1] in self.questions else ()
        return list(reversed(chain))


def _instances(
    scope: Mapping[str, Any], scope_path: Path, chain: list[Path], platform: str
) -> Iterator[dict[Path, Mapping[str, Any]]]:
    """Each instance of the innermost repeat of `chain`, with the instances of the repeats around it."""
    if not chain:
        yield {}
        return
    first, rest = chain[0], chain[1:]
    items = lookup(scope, scope_path, first, platform)
    if not isinstance(items, list):
        return
    for item in items:
        if isinstance(item, Mapping):
            for inner in _instances(item, first, rest, platform):
                yield {first: item, **inner}


def _answers(plan: FormPlan, scopes: Mapping[Path, Mapping[str, Any]], platform: str) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for name in plan.read_names:
        located = plan.questions[name]
        scope = scopes.get(located.scope)
        raw = None if scope is None else lookup(scope, located.scope, located.path, platform)
        answers[name] = typed(raw, located.type)
    return answers


def _row(plan: FormPlan, index: int, repeat: Path | None, answers: Mapping[str, Any], secret: bytes) -> FactRow:
    form = plan.form
    activity_date = as_date(answers.get(form.activity_date))
    organisation = answers.get(form.organisation) if form.organisation else None
    dims = plan.index.resolve(
        plan.fed_dimensions, {dim: answers.get(question) for dim, question in form.dimensions.items()}
    )
    return FactRow(
        row_index=index,
        repeat="/".join(repeat) if repeat else None,
        activity_date=activity_date,
        period=quarter_of(activity_date) if activity_date else None,
        person_key=person_key([answers.get(n) for n in form.person_identifiers], secret)
        if form.person_identifiers
        else None,
        organisation=str(organisation)[:64] if organisation is not None else None,
        dims=dims,
        values={
            name: pseudonym(answers[name], secret) if plan.questions[name].pii else answers[name]
            for name in plan.value_names
            if answers.get(name) is not None
        },
    )


def submission_facts(data: Mapping[str, Any], plan: FormPlan, platform: str, secret: bytes) -> list[FactRow]:
    """The fact rows of one submission's raw JSON: the submission row, then each needed repeat instance."""
    root = {(): data}
    rows = [_row(plan, 0, None, _answers(plan, root, platform), secret)]
    for repeat in plan.row_repeats:
        for scopes in _instances(data, (), plan.repeat_chain(repeat), platform):
            answers = _answers(plan, {**root, **scopes}, platform)
            rows.append(_row(plan, len(rows), repeat, answers, secret))
    return rows
