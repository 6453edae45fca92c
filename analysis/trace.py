"""Traceability: the submissions behind any value, so a figure in a report can be checked against its sources."""

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, select
from sqlmodel import Session, col

from analysis.dimensions import DimensionIndex
from analysis.facts import FormPlan
from analysis.measures import IndicatorPlan
from analysis.queries import DIM_COLUMNS
from analysis.tables import IndicatorInput
from catalogue.model import LIFE_OF_PROGRAMME, Catalogue, TimeAggregation
from sync.tables import RemoteForm, Submission


@dataclass(frozen=True, order=True)
class SourceSubmission:
    """A submission behind a value: the store's id, the server's stable root id, and its catalogue form."""

    submission_id: int
    root_id: str
    form_id: str


def indicator_plan(catalogue: Catalogue, code: str) -> IndicatorPlan:
    """The plan of one indicator, without compiling the whole catalogue."""
    indicator = next((i for i in catalogue.indicators if i.code == code), None)
    if indicator is None:
        raise KeyError(f"no indicator '{code}' in the catalogue")
    form = next(f for f in catalogue.forms if f.id == indicator.measure.form)
    return IndicatorPlan.of(indicator, FormPlan.of(catalogue, form, DimensionIndex.of(catalogue)))


def cell_sources(
    session: Session, catalogue: Catalogue, code: str, period: str, dims: Mapping[str, str] | None = None
) -> list[SourceSubmission]:
    """The submissions whose rows make the value of (indicator, period, dims), by the same rules as the value.

    A quarter of a `sum` or `latest` indicator: that quarter's rows; `cumulative`: every row to the end of the
    quarter; `unique_people`: the rows, in that quarter, of the people first reached then. LOP: every row, or
    for `latest` the rows of each reporter (finest cell inside the cell) in its own latest quarter. `dims` may
    be any subset of the disaggregations.
    """
    plan = indicator_plan(catalogue, code)
    clauses: list[ColumnElement[bool]] = [col(IndicatorInput.indicator) == code]
    for dimension, value in (dims or {}).items():
        if dimension not in plan.dims:
            raise KeyError(f"indicator '{code}' is not disaggregated by '{dimension}'")
        clauses.append(DIM_COLUMNS[plan.dims.index(dimension)] == value)
    aggregation = plan.indicator.time_aggregation
    period_column = col(IndicatorInput.period)
    if period == LIFE_OF_PROGRAMME:
        if aggregation is TimeAggregation.latest:
            finest = DIM_COLUMNS[: len(plan.dims)]
            last = (
                select(*finest, func.max(period_column).label("last_period"))
                .where(*clauses)
                .group_by(*finest)
                .subquery()
            )
            reporters = select(col(IndicatorInput.id)).join(
                last,
                and_(period_column == last.c.last_period, *(column == last.c[column.key] for column in finest)),
            )
            clauses.append(col(IndicatorInput.id).in_(reporters))
    elif aggregation is TimeAggregation.cumulative:
        clauses.append(period_column <= period)
    elif aggregation is TimeAggregation.unique_people:
        first_here = (
            select(col(IndicatorInput.a_unit))
            .where(*clauses)
            .group_by(col(IndicatorInput.a_unit))
            .having(func.min(period_column) == period)
        )
        clauses.extend([period_column == period, col(IndicatorInput.a_unit).in_(first_here)])
    else:
        clauses.append(period_column == period)
    query = (
        select(col(Submission.id), col(Submission.root_id), col(RemoteForm.form_id))
        .join(IndicatorInput, col(IndicatorInput.submission_id) == col(Submission.id))
        .join(RemoteForm, col(RemoteForm.id) == col(Submission.remote_form_id))
        .where(*clauses)
        .distinct()
    )
    return sorted(SourceSubmission(*row) for row in session.execute(query))
