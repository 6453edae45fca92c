"""Reading indicator values for consumers: the cells of a grouping, with targets and status, and suppression.

Small counts of people can identify them (Moroccan law 09-08 on personal data), so cells that count people are
suppressed below a threshold for the roles that may not see them; the caller decides who that is.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlmodel import Session, col, select

from analysis.tables import IndicatorValue
from analysis.targets import assess
from catalogue.model import LIFE_OF_PROGRAMME, Aggregation, Indicator, TimeAggregation
from catalogue.periods import quarters_between

PARTNER_DIMENSION = "partner"
"""The dimension whose values are partner organisations; partner tokens carry one of its codes."""


class ValuesProblem(ValueError):
    """A request for values the store cannot answer as asked; the message says what to ask instead."""


@dataclass(frozen=True)
class CellValue:
    period: str
    dims: dict[str, str]
    value: float | None
    numerator: float | None
    denominator: float | None
    n: int
    baseline: float | None
    target: float | None
    achievement: float | None
    status: str
    suppressed: bool = False


def counts_people(indicator: Indicator) -> bool:
    """Whether the indicator's cells count people (directly, or in a ratio's numerator or denominator)."""
    measure = indicator.measure
    terms = [t.aggregation for t in (measure.numerator, measure.denominator) if t is not None]
    return (
        indicator.time_aggregation is TimeAggregation.unique_people
        or measure.aggregation is Aggregation.distinct_people
        or "distinct_people" in terms
    )


def periods_between(first: str, last: str, *, lop: bool) -> list[str]:
    """The quarters from first to last, then LOP if asked; refuses a range that runs backwards."""
    if first > last:
        raise ValuesProblem(f"from={first} is after to={last}")
    return [*quarters_between(first, last), *([LIFE_OF_PROGRAMME] if lop else [])]


def cell_values(
    session: Session,
    indicator: Indicator,
    *,
    periods: Sequence[str],
    by: Sequence[str] = (),
    where: dict[str, str] | None = None,
) -> list[CellValue]:
    """The stored cells of one grouping (`by`), optionally restricted to some dimension values (`where`)."""
    unknown = [dim for dim in by if dim not in indicator.disaggregations]
    if unknown:
        raise ValuesProblem(
            f"indicator '{indicator.code}' is not disaggregated by {', '.join(unknown)}; "
            f"it is by {', '.join(indicator.disaggregations) or 'nothing'}"
        )
    grouping = ",".join(sorted(set(by)))
    query = select(IndicatorValue).where(
        IndicatorValue.indicator == indicator.code,
        IndicatorValue.grouping == grouping,
        col(IndicatorValue.period).in_(list(periods)),
    )
    rows = list(session.exec(query))
    if not rows and by and _has_values(session, indicator.code) and not _has_values(session, indicator.code, grouping):
        raise ValuesProblem(f"values of '{indicator.code}' are not kept by {grouping}; ask for fewer dimensions")
    order = {period: index for index, period in enumerate(periods)}
    wanted = where or {}
    cells = []
    for row in sorted(rows, key=lambda r: (order[r.period], r.dims_key)):
        if any(row.dims.get(dim) != value for dim, value in wanted.items()):
            continue
        assessment = assess(indicator, row.period, row.value, row.dims)
        cells.append(
            CellValue(
                period=row.period,
                dims=dict(row.dims),
                value=row.value,
                numerator=row.numerator,
                denominator=row.denominator,
                n=row.n,
                baseline=assessment.baseline,
                target=assessment.target,
                achievement=assessment.achievement,
                status=assessment.status.value,
            )
        )
    return cells


def _has_values(session: Session, code: str, grouping: str | None = None) -> bool:
    query = select(IndicatorValue.id).where(IndicatorValue.indicator == code)
    if grouping is not None:
        query = query.where(IndicatorValue.grouping == grouping)
    return session.exec(query.limit(1)).first() is not None


def suppress_small_counts(indicator: Indicator, cells: Sequence[CellValue], threshold: int) -> list[CellValue]:
    """Cells counting fewer than `threshold` people lose their figures (a ratio: if either side is small)."""
    if not counts_people(indicator) or threshold <= 0:
        return list(cells)
    hidden = []
    for cell in cells:
        counts = [v for v in (cell.numerator, cell.denominator) if v is not None] or [cell.value]
        small = any(v is not None and 0 < v < threshold for v in counts)
        hidden.append(
            replace(
                cell,
                value=None,
                numerator=None,
                denominator=None,
                achievement=None,
                status="suppressed",
                suppressed=True,
            )
            if small
            else cell
        )
    return hidden
