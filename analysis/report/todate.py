"""The to-date figure of a tracking table line: what the programme has achieved from its start to a quarter's end.

It follows the indicator's time aggregation, from the stored quarter cells:

* `sum` (a flow) and `unique_people`: the sum of the quarters up to the report's (people are counted in the
  quarter they were first reached, so the sum is the number of distinct people to date); ratios and means
  add their numerators and denominators, never their percentages.
* `cumulative`: the cell of the report's quarter, which already runs from the start (or of the latest quarter
  before it that has one).
* `latest` (a stock reported by several reporters): for each finest cell (the full cross of the indicator's
  disaggregations: one reporter), its latest quarter up to the report's, then summed, numerators and
  denominators apart (akvo-rsr #5239: the sum of the last values, not the last reporter's alone).

The to-date figure is compared with the life-of-programme target (achievement and status).
"""

from collections import defaultdict
from collections.abc import Sequence

from sqlmodel import Session

from analysis.measures import IndicatorPlan
from analysis.targets import assess
from analysis.values import CellKey, CellValue, cell_key, cell_values
from catalogue.model import LIFE_OF_PROGRAMME, Indicator, TimeAggregation
from catalogue.periods import quarters_between

Key = tuple[tuple[str, str], ...]


def _key(dims: dict[str, str], by: Sequence[str]) -> Key:
    return tuple(sorted((dim, dims[dim]) for dim in by if dim in dims))


Sourced = tuple[CellValue, tuple[CellKey, ...]]
"""A to-date cell and the stored cells it is made of (suppression shows it only if they all may be shown)."""


def to_date_cells(
    session: Session,
    plan: IndicatorPlan,
    first_quarter: str,
    period: str,
    *,
    by: Sequence[str] = (),
    where: dict[str, str] | None = None,
) -> list[CellValue]:
    """One cell per value of the `by` dimensions (restricted to `where`), to the end of `period`."""
    return [cell for cell, _ in to_date_sourced(session, plan, first_quarter, period, by=by, where=where)]


def to_date_sourced(
    session: Session,
    plan: IndicatorPlan,
    first_quarter: str,
    period: str,
    *,
    by: Sequence[str] = (),
    where: dict[str, str] | None = None,
) -> list[Sourced]:
    """`to_date_cells`, each with the keys of the stored cells it was computed from."""
    indicator = plan.indicator
    quarters = quarters_between(first_quarter, period)
    keep = sorted({*by, *(where or {})})
    aggregation = indicator.time_aggregation
    if aggregation is TimeAggregation.cumulative:
        cells = cell_values(session, indicator, periods=quarters, by=keep, where=where)
        latest: dict[Key, CellValue] = {}
        for cell in cells:  # sorted by period
            latest[_key(cell.dims, keep)] = cell
        return [
            (
                _assessed(indicator, period, cell.dims, cell.value, cell.numerator, cell.denominator, cell.n),
                (cell_key(cell.period, cell.dims),),
            )
            for cell in latest.values()
        ]
    if aggregation is TimeAggregation.latest:
        finest = sorted({*indicator.disaggregations, *keep})
        last: dict[Key, CellValue] = {}
        for cell in cell_values(session, indicator, periods=quarters, by=finest, where=where):
            last[_key(cell.dims, finest)] = cell
        parts: Sequence[CellValue] = list(last.values())
    else:
        parts = cell_values(session, indicator, periods=quarters, by=keep, where=where)
    return _summed(plan, period, parts, keep)


def _summed(plan: IndicatorPlan, period: str, parts: Sequence[CellValue], keep: Sequence[str]) -> list[Sourced]:
    """Cells adding up their parts: values, or numerators and denominators for ratios, means and gains."""
    groups: dict[Key, list[CellValue]] = defaultdict(list)
    for cell in parts:
        groups[_key(cell.dims, keep)].append(cell)
    out = []
    for key, cells in sorted(groups.items()):
        n = sum(cell.n for cell in cells)
        if any(cell.denominator is not None for cell in cells):
            numerator = sum(cell.numerator or 0.0 for cell in cells)
            denominator = sum(cell.denominator or 0.0 for cell in cells)
            value = plan.factor * numerator / denominator if denominator else None
        else:
            numerator = denominator = None
            values = [cell.value for cell in cells if cell.value is not None]
            value = sum(values) if values else None
        sources = tuple(cell_key(cell.period, cell.dims) for cell in cells)
        out.append((_assessed(plan.indicator, period, dict(key), value, numerator, denominator, n), sources))
    return out


def _assessed(
    indicator: Indicator,
    period: str,
    dims: dict[str, str],
    value: float | None,
    numerator: float | None,
    denominator: float | None,
    n: int,
) -> CellValue:
    assessment = assess(indicator, LIFE_OF_PROGRAMME, value, dims)
    return CellValue(
        period=period,
        dims=dict(dims),
        value=value,
        numerator=numerator,
        denominator=denominator,
        n=n,
        baseline=assessment.baseline,
        target=assessment.target,
        achievement=assessment.achievement,
        status=assessment.status.value,
    )
