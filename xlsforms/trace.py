"""Which indicators read a question: the link from a form change to the numbers it can break."""

from collections.abc import Collection

from catalogue.filters import FilterSyntaxError, fields, parse_filter
from catalogue.model import Aggregation, Catalogue, Measure
from xlsforms.lookup import Lookup


def measure_questions(measure: Measure) -> set[str]:
    """The question names a measure reads: its questions and those its filters compare (bad filters add none)."""
    names = {measure.question, measure.pre, measure.post}
    sources = [measure.filter]
    for term in (measure.numerator, measure.denominator):
        if term is not None:
            names.add(term.question)
            sources.append(term.filter)
    for source in sources:
        if source is None:
            continue
        try:
            names.update(fields(parse_filter(source)))
        except FilterSyntaxError:
            continue
    return {name for name in names if name is not None}


def counts_people(measure: Measure) -> bool:
    """Whether a measure, or one side of its ratio, counts distinct people (it then needs person identifiers)."""
    return measure.aggregation is Aggregation.distinct_people or any(
        term is not None and term.aggregation == "distinct_people" for term in (measure.numerator, measure.denominator)
    )


def indicators_using(
    catalogue: Catalogue, form_id: str, names: Collection[str], lookup: Lookup | None = None
) -> list[str]:
    """Codes of the indicators measured on a form that read any of the named questions.

    A question is read by a measure when the measure names it, when it feeds a dimension (or a child of one)
    the indicator is disaggregated by, when it is the form's activity date (it places every value in a
    period), or when it identifies people for an indicator counting distinct people.
    """
    lookup = lookup or Lookup(catalogue)
    form = lookup.forms.get(form_id)
    fed = lookup.fed_dimensions(form) if form else {}
    wanted = set(names)
    found = []
    for indicator in catalogue.indicators:
        measure = indicator.measure
        if measure.form != form_id:
            continue
        used = measure_questions(measure)
        used.update(fed[dim] for dim in indicator.disaggregations if dim in fed)
        if form is not None:
            used.add(form.activity_date)
            if counts_people(measure):
                used.update(form.person_identifiers)
        if used & wanted:
            found.append(indicator.code)
    return found
