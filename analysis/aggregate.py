"""Indicator cells from input rows: the time-aggregation rules, in one place, for a full run and for a change.

Time aggregation is where M&E tools go wrong, so each rule is spelled out here:

* `sum` (a flow): a quarter's value is computed over that quarter's rows; LOP over all the programme's rows
  (for a distinct count, the distinct units over the whole programme, not the sum of quarters).
* `cumulative` (to date): a quarter's value is computed over every row up to the end of that quarter. Sums and
  counts are running totals of the quarters; distinct counts are running totals of units *first seen* in each
  quarter (a unit's first quarter is a MIN(period) per unit in SQL), which equals a distinct count to date.
  A cell is stored from its first quarter with data through the indicator's last quarter with data.
* `latest` (a stock): a quarter's value is its own rows. LOP is the sum of the last values of the *reporters*,
  a reporter being a cell of the full cross of the indicator's disaggregations (with dimensions region and
  partner: each partner in each region): for any cell, LOP adds up, over the finest cells inside it, their
  totals in their own latest quarter. A partner that last reported in 2027Q4 and one that last reported in
  2028Q1 both count, each with its last report (akvo-rsr #5239: "the sum of the last updated values"); a ratio
  is Σ of those numerators over Σ of those denominators.
* `unique_people`: a quarter's value is the number of people reached *for the first time* in that quarter
  (within the cell: the filter and disaggregation values that define it), so the quarters add up to the LOP
  value, which counts every person once whatever periods and activities reached them. PRIM 2's quarterly
  targets for people indicators add up to their LOP targets, which is this reading (DevResults' "count unique"
  over the programme, split by first contact). People reached again in a later quarter add nothing there.

Which cells are stored: for each indicator, period and grouping of `analysis.measures.groupings` (the total,
every single dimension, every pair, and the full cross-classification), a cell for each combination of values
that has rows, `unknown` included. A ratio whose denominator is 0 is stored without a value.

A cell is stored with its totals (`analysis.measures.Totals`), integers that add across rows. A full run
computes them from all rows (`FullCells`); an incremental run computes what changed rows add or remove
(`change_deltas`) and adds that to the stored totals, so its cost follows the change, not the data:

* sums, counts and row counts change by the changed rows' own values, in the periods those rows count in;
* a distinct count changes only where a changed row's unit (a person, an institution) starts or stops counting,
  which that unit's own rows decide: they are read by index and compared before and after the change;
* a gain is a sum over people of each one's post − pre, so it too changes by the changed people's pairs;
* a `latest` LOP changes by the difference in the last values of the reporters the change touched.

Memory holds one indicator's cells at a time in a full run (bounded by the cells stored, not by the rows);
gains stream their rows ordered by person. An incremental run holds the cells a change touches.
"""

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import groupby

from analysis.measures import ZERO, IndicatorPlan, InputRow, SideTotals, Totals, as_micros
from analysis.queries import Fetcher, Grouping, Key
from catalogue.model import LIFE_OF_PROGRAMME, TimeAggregation

CellId = tuple[Grouping, Key, str]
"""A cell of one indicator: its grouping, its values in that grouping's dimensions, its period."""
Deltas = dict[CellId, Totals]
"""What a change adds to (or, negative, removes from) each cell's totals."""


@dataclass(frozen=True)
class Cell:
    """One computed cell before it is stored."""

    period: str
    key: Key
    totals: Totals


def project(dims: Sequence[str], grouping: Grouping) -> Key:
    """A row's (or a finest cell's) values in one grouping's dimensions: the finest grouping, last of
    `analysis.measures.groupings`, is every dimension in catalogue order, so its keys are the rows' `dims`."""
    return tuple(dims[i] for i in grouping)


# -- one person's (one unit's) part in a cell ------------------------------------------------------------------


def unit_periods(aggregation: TimeAggregation, side: str, quarters: Sequence[str], seen: set[str]) -> set[str]:
    """The periods in which a unit counts once in a cell, given the quarters of its rows in that cell.

    `unique_people` counts a person in the quarter they were first reached (side a; a ratio's other side
    counts per quarter), `cumulative` in every quarter from that one on, the others in each quarter with a row.
    Every aggregation but `latest` (whose LOP adds up reporters, see the module docstring) counts it once in LOP.
    """
    if not seen:
        return set()
    first = min(seen)
    if aggregation is TimeAggregation.cumulative:
        periods = {q for q in quarters if q >= first}
    elif aggregation is TimeAggregation.unique_people and side == "a":
        periods = {first}
    else:
        periods = set(seen)
    if aggregation is not TimeAggregation.latest:
        periods.add(LIFE_OF_PROGRAMME)
    return periods


def _pair(rows: Sequence[InputRow]) -> int | None:
    """post − pre for one person (or row), in millionths: the mean of their post scores minus the mean of their
    pre scores (`fsum`, so the order rows come in changes nothing); None without both."""
    pre = [r.a_value for r in rows if r.a_value is not None]
    post = [r.b_value for r in rows if r.b_value is not None]
    if not pre or not post:
        return None
    return as_micros(math.fsum(post) / len(post) - math.fsum(pre) / len(pre))


def unit_gains(aggregation: TimeAggregation, quarters: Sequence[str], rows: list[InputRow]) -> dict[str, SideTotals]:
    """What one person's rows in a cell give its gain, per period: (their gain, one pair) where they pair.

    Pairs are made within the cell's rows of the period: a quarter's own rows for `sum` and `latest`, everything
    to date for `cumulative` (so a pre-test in Q4 and a post-test in Q1 pair in Q1), all rows for LOP.
    """
    if not rows:
        return {}
    periods: dict[str, list[InputRow]]
    if aggregation is TimeAggregation.cumulative:
        first = min(r.period for r in rows)
        periods = {q: [r for r in rows if r.period <= q] for q in quarters if q >= first}
    else:
        periods = defaultdict(list)
        for row in rows:
            periods[row.period].append(row)
    if aggregation is not TimeAggregation.latest:
        periods[LIFE_OF_PROGRAMME] = rows
    gains = {}
    for period, chosen in periods.items():
        gain = _pair(chosen)
        if gain is not None:
            gains[period] = SideTotals(gain, 1, 0)
    return gains


def row_periods(aggregation: TimeAggregation, quarters: Sequence[str], period: str) -> list[str]:
    """The periods whose sums and counts a row adds to: its quarter, every later one for `cumulative`, and LOP
    (but for `latest`, whose LOP follows the reporters' last quarters)."""
    cumulative = aggregation is TimeAggregation.cumulative
    periods = [q for q in quarters if q >= period] if cumulative else [period]
    if aggregation is not TimeAggregation.latest:
        periods.append(LIFE_OF_PROGRAMME)
    return periods


def row_totals(plan: IndicatorPlan, row: InputRow) -> Totals:
    """What one row adds to a cell's sums and counts (a gain's rows only count: its pairs come from people)."""
    if plan.kind == "gain":
        return Totals(rows=1)
    return Totals(_side(row.a_value), _side(row.b_value), 1)


def _side(value: float | None) -> SideTotals:
    return SideTotals() if value is None else SideTotals(as_micros(value), 1, 0)


def _add(deltas: Deltas, cell: CellId, totals: Totals) -> None:
    deltas[cell] = deltas.get(cell, ZERO).plus(totals)


# -- a full run ------------------------------------------------------------------------------------------------


@dataclass
class FullCells:
    """Every cell of one indicator, from all its rows: the aggregate queries of `Fetcher`, per grouping."""

    fetch: Fetcher
    quarters: tuple[str, ...]
    last: str | None
    """The indicator's last quarter with rows: cumulative cells stop there."""
    _gains: dict[CellId, SideTotals] | None = field(default=None, init=False)

    @property
    def plan(self) -> IndicatorPlan:
        return self.fetch.plan

    @property
    def aggregation(self) -> TimeAggregation:
        return self.plan.indicator.time_aggregation

    def cells(self, grouping: Grouping) -> Iterator[Cell]:
        """The quarter and LOP cells of one grouping."""
        if self.last is None:
            return
        for key, by_quarter in self.quarter_cells(grouping).items():
            for quarter, totals in by_quarter.items():
                yield Cell(quarter, key, totals)
        for key, totals in self.lop_cells(grouping).items():
            yield Cell(LIFE_OF_PROGRAMME, key, totals)

    def quarter_cells(self, grouping: Grouping) -> dict[Key, dict[str, Totals]]:
        """Each cell's quarters: own rows, running totals to date, or (unique people) people first seen then."""
        own = self.fetch.own(grouping)
        cumulative = self.aggregation is TimeAggregation.cumulative
        if self.plan.kind == "gain":
            if cumulative:
                return self._running(own, lambda key, quarter, totals: self._gain(grouping, key, quarter, totals))
            return {
                key: {q: self._gain(grouping, key, q, totals) for q, totals in by_quarter.items()}
                for key, by_quarter in own.items()
            }
        if cumulative:
            new = {side: self._first(grouping, side) for side in ("a", "b")}
            seen: dict[tuple[str, Key], int] = defaultdict(int)

            def distinct(key: Key, quarter: str, running: Totals) -> Totals:
                for side in ("a", "b"):
                    seen[(side, key)] += new[side].get(key, {}).get(quarter, 0)
                a, b = running.a, running.b
                return Totals(
                    SideTotals(a.micros, a.count, seen[("a", key)]),
                    SideTotals(b.micros, b.count, seen[("b", key)]),
                    running.rows,
                )

            return self._running(own, distinct)
        if self.aggregation is TimeAggregation.unique_people:
            first = self._first(grouping, "a")
            return {
                key: {
                    q: Totals(SideTotals(t.a.micros, t.a.count, first.get(key, {}).get(q, 0)), t.b, t.rows)
                    for q, t in by_quarter.items()
                }
                for key, by_quarter in own.items()
            }
        return own

    def lop_cells(self, grouping: Grouping) -> dict[Key, Totals]:
        """Each cell's LOP: all its rows, or for `latest` its reporters' last values."""
        if self.aggregation is TimeAggregation.latest:
            return self._latest(grouping)
        if self.plan.kind == "gain":
            return {
                key: self._gain(grouping, key, LIFE_OF_PROGRAMME, Totals(rows=sum(t.rows for t in by_quarter.values())))
                for key, by_quarter in self.fetch.own(grouping).items()
            }
        return self.fetch.all(grouping)

    def _running(
        self, own: dict[Key, dict[str, Totals]], finish: Callable[[Key, str, Totals], Totals]
    ) -> dict[Key, dict[str, Totals]]:
        """Running totals to date, from each cell's first quarter to the indicator's last."""
        assert self.last is not None
        out: dict[Key, dict[str, Totals]] = {}
        for key, by_quarter in own.items():
            running = ZERO
            cells: dict[str, Totals] = {}
            for quarter in self.quarters:
                if quarter > self.last:
                    break
                running = running.plus(by_quarter.get(quarter, ZERO))
                if running.rows:
                    cells[quarter] = finish(key, quarter, running)
            out[key] = cells
        return out

    def _first(self, grouping: Grouping, side: str) -> dict[Key, dict[str, int]]:
        counted = self.plan.a if side == "a" else self.plan.b
        return self.fetch.first(grouping, side) if counted is not None and counted.counts_units else {}

    def _latest(self, grouping: Grouping) -> dict[Key, Totals]:
        """Σ over the finest cells inside each cell of their totals in their own latest quarter."""
        finest = self.fetch.groupings[-1]
        lop: dict[Key, Totals] = {}
        for key, by_quarter in self.quarter_cells(finest).items():
            cell = project(key, grouping)
            lop[cell] = lop.get(cell, ZERO).plus(by_quarter[max(by_quarter)])
        return lop

    def _gain(self, grouping: Grouping, key: Key, period: str, totals: Totals) -> Totals:
        if self._gains is None:
            self._gains = self._all_gains()
        return Totals(self._gains.get((grouping, key, period), SideTotals()), SideTotals(), totals.rows)

    def _all_gains(self) -> dict[CellId, SideTotals]:
        """Every cell's gain, from one pass over the rows ordered by person (the same rule as a change's)."""
        gains: dict[CellId, SideTotals] = {}
        for _unit, rows in groupby(self.fetch.gain_rows(), key=lambda r: r.a_unit):
            for (grouping, key), in_cell in _by_cell(list(rows), self.fetch.groupings).items():
                for period, gain in unit_gains(self.aggregation, self.quarters, in_cell).items():
                    cell = (grouping, key, period)
                    gains[cell] = gains.get(cell, SideTotals()).plus(gain)
        return gains


def _by_cell(rows: list[InputRow], groupings: list[Grouping]) -> dict[tuple[Grouping, Key], list[InputRow]]:
    cells: dict[tuple[Grouping, Key], list[InputRow]] = defaultdict(list)
    for row in rows:
        for grouping in groupings:
            cells[(grouping, project(row.dims, grouping))].append(row)
    return cells


# -- a change --------------------------------------------------------------------------------------------------


@dataclass
class Change:
    """What changed submissions did to one indicator's input rows."""

    removed: list[InputRow] = field(default_factory=list)
    added: list[InputRow] = field(default_factory=list)
    submissions: set[int] = field(default_factory=set)
    """The submissions whose rows were replaced: their old rows are `removed`, their new ones `added`."""

    def units(self, side: str) -> set[str]:
        return {unit for row in (*self.removed, *self.added) if (unit := row.unit(side)) is not None}

    def finest_keys(self) -> set[Key]:
        return {row.dims for row in (*self.removed, *self.added)}


def unit_sides(plan: IndicatorPlan) -> list[str]:
    """The sides whose units an incremental run must read: distinct counts, and a gain's pairing key."""
    if plan.kind == "gain":
        return ["a"]
    return [side for side, counted in (("a", plan.a), ("b", plan.b)) if counted is not None and counted.counts_units]


def change_deltas(
    plan: IndicatorPlan,
    quarters: Sequence[str],
    groupings: list[Grouping],
    change: Change,
    units: Mapping[str, Mapping[str, list[InputRow]]],
) -> Deltas:
    """What a change adds to every cell it touches, but a `latest` LOP (see `latest_deltas`).

    `units` holds, per side of `unit_sides`, every current row of each unit the change touches: a unit's part
    before the change is computed from the same rows less its changed submissions' new rows plus their old ones.
    """
    aggregation = plan.indicator.time_aggregation
    deltas: Deltas = {}
    for sign, rows in ((-1, change.removed), (1, change.added)):
        for row in rows:
            totals = row_totals(plan, row)
            part = totals if sign > 0 else ZERO.minus(totals)
            for period in row_periods(aggregation, quarters, row.period):
                for grouping in groupings:
                    _add(deltas, (grouping, project(row.dims, grouping), period), part)
    for side, by_unit in units.items():
        removed: dict[str, list[InputRow]] = defaultdict(list)
        for row in change.removed:
            if (unit := row.unit(side)) is not None:
                removed[unit].append(row)
        for unit in change.units(side):
            after = by_unit.get(unit, [])
            before = [r for r in after if r.submission_id not in change.submissions] + removed.get(unit, [])
            _unit_deltas(plan, quarters, groupings, side, before, after, deltas)
    return deltas


def _unit_deltas(
    plan: IndicatorPlan,
    quarters: Sequence[str],
    groupings: list[Grouping],
    side: str,
    before: list[InputRow],
    after: list[InputRow],
    deltas: Deltas,
) -> None:
    """What one unit's part in each cell becomes, less what it was."""
    aggregation = plan.indicator.time_aggregation
    old, new = _by_cell(before, groupings), _by_cell(after, groupings)
    for grouping, key in old.keys() | new.keys():
        was, now = old.get((grouping, key), []), new.get((grouping, key), [])
        if plan.kind == "gain":
            gained, lost = unit_gains(aggregation, quarters, now), unit_gains(aggregation, quarters, was)
            for period in gained.keys() | lost.keys():
                difference = gained.get(period, SideTotals()).minus(lost.get(period, SideTotals()))
                if difference != SideTotals():
                    _add(deltas, (grouping, key, period), Totals(a=difference))
            continue
        counted = unit_periods(aggregation, side, quarters, {r.period for r in now})
        uncounted = unit_periods(aggregation, side, quarters, {r.period for r in was})
        for period, step in [(p, 1) for p in counted - uncounted] + [(p, -1) for p in uncounted - counted]:
            units = SideTotals(distinct=step)
            _add(deltas, (grouping, key, period), Totals(a=units) if side == "a" else Totals(b=units))


def latest_deltas(
    groupings: list[Grouping],
    quarters: Sequence[str],
    finest_keys: Iterable[Key],
    deltas: Deltas,
    stored: Mapping[CellId, Totals],
) -> Deltas:
    """What a change does to the LOP of a `latest` indicator: each touched reporter's last value, new less old,
    added to every cell it lies in. `stored` must hold the reporters' stored quarter and LOP cells."""
    finest = groupings[-1]
    lop: Deltas = {}
    for key in finest_keys:
        latest = ZERO
        for quarter in reversed(quarters):
            cell = (finest, key, quarter)
            totals = stored.get(cell, ZERO).plus(deltas.get(cell, ZERO))
            if totals.rows:
                latest = totals
                break
        difference = latest.minus(stored.get((finest, key, LIFE_OF_PROGRAMME), ZERO))
        if difference != ZERO:
            for grouping in groupings:
                _add(lop, (grouping, project(key, grouping), LIFE_OF_PROGRAMME), difference)
    return lop
