"""Indicator cells from the aggregates of `analysis.queries`: the time-aggregation rules, in one place.

Time aggregation is where M&E tools go wrong, so each rule is spelled out here:

* `sum` (a flow): a quarter's value is computed over that quarter's rows; LOP over all the programme's rows
  (for a distinct count, the distinct units over the whole programme, not the sum of quarters).
* `cumulative` (to date): a quarter's value is computed over every row up to the end of that quarter. Sums and
  counts are running totals of the quarters; distinct counts are running totals of units *first seen* in each
  quarter (a unit's first quarter is a MIN(period) per unit in SQL), which equals a distinct count to date.
  A cell is stored from its first quarter with data through the indicator's last quarter with data.
* `latest` (a stock): a quarter's value is its own rows; LOP is, for each cell, the value of the latest
  quarter in which that cell has rows.
* `unique_people`: a quarter's value is the number of people reached *for the first time* in that quarter
  (within the cell: the filter and disaggregation values that define it), so the quarters add up to the LOP
  value, which counts every person once whatever periods and activities reached them. PRIM 2's quarterly
  targets for people indicators add up to their LOP targets, which is this reading (DevResults' "count unique"
  over the programme, split by first contact). People reached again in a later quarter add nothing there.

Which cells are stored: for each indicator, period and grouping of `analysis.measures.groupings` (the total,
every single dimension, every pair, and the full cross-classification), a cell for each combination of values
that has rows, `unknown` included. A ratio whose denominator is 0 is stored without a value.

Memory holds one indicator's cells at a time (bounded by the cells stored, not by the rows); gains stream
their rows ordered by cell and person.
"""

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import groupby

from analysis.measures import IndicatorPlan, SideTotals
from analysis.queries import Fetcher, Grouping, Key, Totals
from catalogue.model import LIFE_OF_PROGRAMME, TimeAggregation


@dataclass(frozen=True)
class Cell:
    """One computed value before it is stored."""

    period: str
    key: Key
    value: float | None
    numerator: float | None
    denominator: float | None
    n: int


def _cell(plan: IndicatorPlan, period: str, key: Key, totals: Totals) -> Cell:
    value, numerator, denominator = plan.finish(totals.a, totals.b)
    return Cell(period, key, value, numerator, denominator, totals.rows)


def grouping_cells(
    fetch: Fetcher, quarters: tuple[str, ...], targets: set[str], grouping: Grouping, last: str | None
) -> Iterator[Cell]:
    """The cells of one grouping for the target periods (quarters and/or LOP), per the time aggregation."""
    plan = fetch.plan
    if last is None:
        return
    if plan.kind == "gain":
        yield from gain_cells(fetch, quarters, targets, grouping, last)
        return
    aggregation = plan.indicator.time_aggregation
    wanted = [q for q in quarters if q in targets]
    lop = LIFE_OF_PROGRAMME in targets
    if aggregation is TimeAggregation.sum:
        for key, by_quarter in fetch.own(grouping, periods=wanted).items():
            for quarter, totals in by_quarter.items():
                yield _cell(plan, quarter, key, totals)
    elif aggregation is TimeAggregation.latest:
        for key, by_quarter in fetch.own(grouping).items():
            for quarter, totals in by_quarter.items():
                if quarter in targets:
                    yield _cell(plan, quarter, key, totals)
            if lop:
                yield _cell(plan, LIFE_OF_PROGRAMME, key, by_quarter[max(by_quarter)])
        return
    elif aggregation is TimeAggregation.unique_people:
        upto = max(wanted) if wanted else None
        new = fetch.first(grouping, "a", upto=upto) if wanted else {}
        for key, by_quarter in fetch.own(grouping, periods=wanted).items():
            for quarter, totals in by_quarter.items():
                first_time = SideTotals(totals.a.total, totals.a.count, new.get(key, {}).get(quarter, 0))
                yield _cell(plan, quarter, key, Totals(first_time, totals.b, totals.rows))
    else:
        yield from _cumulative(fetch, quarters, wanted, grouping, last)
    if lop:
        for key, totals in fetch.all(grouping).items():
            yield _cell(plan, LIFE_OF_PROGRAMME, key, totals)


def _cumulative(
    fetch: Fetcher, quarters: tuple[str, ...], wanted: list[str], grouping: Grouping, last: str
) -> Iterator[Cell]:
    """Running totals to date; distinct counts as running sums of units first seen in each quarter."""
    plan = fetch.plan
    if not wanted:
        return
    upto = min(max(wanted), last)
    own = fetch.own(grouping, upto=upto)
    new_a = fetch.first(grouping, "a", upto=upto) if plan.a.counts_units else {}
    b_units = plan.b is not None and plan.b.counts_units
    new_b = fetch.first(grouping, "b", upto=upto) if b_units else {}
    targets = set(wanted)
    for key, by_quarter in own.items():
        running = Totals()
        seen_a = seen_b = 0
        for quarter in quarters:
            if quarter > upto:
                break
            if quarter in by_quarter:
                running = running.plus(by_quarter[quarter])
            if running.rows == 0:
                continue
            seen_a += new_a.get(key, {}).get(quarter, 0)
            seen_b += new_b.get(key, {}).get(quarter, 0)
            running.a = SideTotals(running.a.total, running.a.count, seen_a)
            running.b = SideTotals(running.b.total, running.b.count, seen_b)
            if quarter in targets:
                yield _cell(plan, quarter, key, running)


@dataclass
class _Gain:
    total: float = 0.0
    pairs: int = 0


def _pair(rows: list[tuple[str, float | None, float | None]]) -> float | None:
    """post − pre for one person (or row): the mean of their post scores minus the mean of their pre scores."""
    pre = [r[1] for r in rows if r[1] is not None]
    post = [r[2] for r in rows if r[2] is not None]
    if not pre or not post:
        return None
    return sum(post) / len(post) - sum(pre) / len(pre)


def gain_cells(
    fetch: Fetcher, quarters: tuple[str, ...], targets: set[str], grouping: Grouping, last: str
) -> Iterator[Cell]:
    """Score gains: the mean, over people (or rows) with both a pre and a post score, of post − pre.

    Pairs are made by person key within the cell's rows of the period: a quarter's own rows for `sum` and
    `latest`, everything to date for `cumulative` (so a pre-test in Q4 and a post-test in Q1 pair in Q1), all
    rows for LOP. Someone tested twice contributes the difference of their mean scores, once.
    """
    aggregation = fetch.plan.indicator.time_aggregation
    wanted = [q for q in quarters if q in targets]
    cumulative = aggregation is TimeAggregation.cumulative
    upto = min(max(wanted), last) if wanted else None
    rows_by_quarter = fetch.own(grouping)
    gains: dict[Key, dict[str, _Gain]] = defaultdict(lambda: defaultdict(_Gain))
    width = len(grouping)
    for (key, _unit), group in groupby(fetch.gain_rows(grouping), key=lambda r: (tuple(r[:width]), r[width])):
        rows = [(r[width + 1], r[width + 2], r[width + 3]) for r in group]
        _add(gains[key], LIFE_OF_PROGRAMME, _pair(rows))
        if cumulative and upto is not None:
            for quarter in quarters:
                if quarter > upto:
                    break
                if quarter >= rows[0][0]:
                    _add(gains[key], quarter, _pair([r for r in rows if r[0] <= quarter]))
        elif not cumulative:
            for quarter, same in groupby(rows, key=lambda r: r[0]):
                _add(gains[key], quarter, _pair(list(same)))
    for key, by_quarter in rows_by_quarter.items():
        running = 0
        for quarter in quarters:
            own = by_quarter.get(quarter)
            running += own.rows if own else 0
            count = running if cumulative else (own.rows if own else 0)
            if quarter in targets and count and (not cumulative or (upto is not None and quarter <= upto)):
                yield _gain_cell(quarter, key, gains[key].get(quarter), count)
        if LIFE_OF_PROGRAMME in targets:
            if aggregation is TimeAggregation.latest:
                latest = max(by_quarter)
                yield _gain_cell(LIFE_OF_PROGRAMME, key, gains[key].get(latest), by_quarter[latest].rows)
            else:
                rows = sum(t.rows for t in by_quarter.values())
                yield _gain_cell(LIFE_OF_PROGRAMME, key, gains[key].get(LIFE_OF_PROGRAMME), rows)


def _add(cells: dict[str, _Gain], period: str, difference: float | None) -> None:
    if difference is not None:
        gain = cells[period]
        gain.total += difference
        gain.pairs += 1


def _gain_cell(period: str, key: Key, gain: "_Gain | None", rows: int) -> Cell:
    if gain is None or not gain.pairs:
        return Cell(period, key, None, 0.0, 0.0, rows)
    return Cell(period, key, gain.total / gain.pairs, gain.total, float(gain.pairs), rows)
