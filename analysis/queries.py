"""The queries over `analysis_input`: aggregates for every grouping of one indicator (a full run), and the rows of
the units a change touches (an incremental run).

Each aggregate kind (totals per quarter, totals over all rows, units first seen per quarter) is run once for all
the indicator's groupings. On PostgreSQL that is a single statement with GROUPING SETS, so the indicator's
rows are scanned once rather than once per grouping (23 times for a six-way disaggregation); elsewhere
(SQLite, small databases) it is one plain GROUP BY per grouping. Both give the same rows: the property tests
run on both databases. Results are kept for the run of one indicator only, so memory holds that indicator's
cells, never its rows.
"""

from collections import defaultdict
from collections.abc import Collection, Iterator
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, cast, distinct, func, literal, select, tuple_
from sqlmodel import Session, col

from analysis.measures import MICRO, IndicatorPlan, InputRow, SideTotals, Totals
from analysis.tables import IndicatorInput

Key = tuple[str, ...]
Grouping = tuple[int, ...]
DIM_COLUMNS = tuple(col(getattr(IndicatorInput, f"d{i}")) for i in range(1, 9))
"""`d1` … `d8`: the indicator's disaggregations, in catalogue order."""
UNITS = {"a": col(IndicatorInput.a_unit), "b": col(IndicatorInput.b_unit)}
CHUNK = 500
"""Units per IN list when reading the rows of the units a change touches."""


def _micros_sum(column: Any) -> Any:
    """Σ of a value column in whole millionths: an exact integer sum on both databases (see `MICRO`)."""
    return func.sum(cast(func.round(column * MICRO), BigInteger))


def _totals(row: Any) -> Totals:
    a_sum, a_count, a_distinct, b_sum, b_count, b_distinct, rows = row
    return Totals(
        SideTotals(int(a_sum or 0), int(a_count), int(a_distinct or 0)),
        SideTotals(int(b_sum or 0), int(b_count), int(b_distinct or 0)),
        int(rows),
    )


class Fetcher:
    """Runs and caches the aggregate queries of one indicator."""

    def __init__(self, session: Session, plan: IndicatorPlan, groupings: list[Grouping]) -> None:
        self.session = session
        self.plan = plan
        self.groupings = groupings
        self.width = len(plan.dims)
        self.sets = session.get_bind().dialect.name == "postgresql" and self.width > 0
        self.cache: dict[tuple[Any, ...], dict[Grouping, Any]] = {}

    # -- building blocks --------------------------------------------------------------------------------

    def where(self) -> list[ColumnElement[bool]]:
        return [col(IndicatorInput.indicator) == self.plan.code]

    def _aggregates(self) -> list[Any]:
        plan = self.plan
        a_distinct = func.count(distinct(UNITS["a"])) if plan.a.counts_units else literal(0)
        b_counts = plan.b is not None and plan.b.counts_units
        b_distinct = func.count(distinct(UNITS["b"])) if b_counts else literal(0)
        return [
            _micros_sum(IndicatorInput.a_value),
            func.count(IndicatorInput.a_value),
            a_distinct,
            _micros_sum(IndicatorInput.b_value),
            func.count(IndicatorInput.b_value),
            b_distinct,
            func.count(),
        ]

    def _grouping_of(self) -> dict[int, Grouping]:
        """GROUPING(d1…dk) of each grouping: a bit set for every column it does not group by."""
        k = self.width
        return {sum(1 << (k - 1 - p) for p in range(k) if p not in g): g for g in self.groupings}

    def _grouping_sets(self) -> Any:
        return func.grouping_sets(*(tuple_(*(DIM_COLUMNS[i] for i in g)) for g in self.groupings))

    def _grouped(
        self, head: list[Any], tail: list[Any], where: list[ColumnElement[bool]]
    ) -> Iterator[tuple[Grouping, Key, Any, Any]]:
        """(grouping, cell key, head values, tail values) for every grouping's GROUP BY head + dimensions."""
        if self.sets:
            columns = list(DIM_COLUMNS[: self.width])
            by_gid = self._grouping_of()
            query = (
                select(func.grouping(*columns), *head, *columns, *tail)
                .where(*where)
                .group_by(*head, self._grouping_sets())
            )
            n = len(head)
            for row in self.session.execute(query):
                grouping = by_gid[row[0]]
                dims = row[1 + n : 1 + n + self.width]
                yield grouping, tuple(dims[i] for i in grouping), row[1 : 1 + n], row[1 + n + self.width :]
            return
        for grouping in self.groupings:
            columns = [DIM_COLUMNS[i] for i in grouping]
            query = select(*head, *columns, *tail).where(*where).group_by(*head, *columns)
            n, w = len(head), len(columns)
            for row in self.session.execute(query):
                yield grouping, tuple(row[n : n + w]), row[:n], row[n + w :]

    def _cached(self, key: tuple[Any, ...], grouping: Grouping, build: Any) -> Any:
        if key not in self.cache:
            self.cache[key] = build()
        return self.cache[key].get(grouping, {})

    # -- the three query kinds ---------------------------------------------------------------------------

    def own(self, grouping: Grouping) -> dict[Key, dict[str, Totals]]:
        """Each cell's totals per quarter, over that quarter's rows."""

        def build() -> dict[Grouping, dict[Key, dict[str, Totals]]]:
            out: dict[Grouping, dict[Key, dict[str, Totals]]] = defaultdict(lambda: defaultdict(dict))
            head = [col(IndicatorInput.period)]
            for g, key, (period,), tail in self._grouped(head, self._aggregates(), self.where()):
                out[g][key][period] = _totals(tail)
            return out

        return self._cached(("own",), grouping, build)

    def all(self, grouping: Grouping) -> dict[Key, Totals]:
        """Each cell's totals over all the programme's rows."""

        def build() -> dict[Grouping, dict[Key, Totals]]:
            out: dict[Grouping, dict[Key, Totals]] = defaultdict(dict)
            for g, key, _head, tail in self._grouped([], self._aggregates(), self.where()):
                totals = _totals(tail)
                if totals.rows:
                    out[g][key] = totals
            return out

        return self._cached(("all",), grouping, build)

    def first(self, grouping: Grouping, side: str) -> dict[Key, dict[str, int]]:
        """How many units each cell sees for the first time in each quarter: MIN(period) over the cell's rows."""

        def build() -> dict[Grouping, dict[Key, dict[str, int]]]:
            out: dict[Grouping, dict[Key, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
            for g, key, first, count in self._first_rows(UNITS[side]):
                out[g][key][first] = count
            return out

        return self._cached(("first", side), grouping, build)

    def _first_rows(self, unit: Any) -> Iterator[tuple[Grouping, Key, str, int]]:
        where = [*self.where(), unit.is_not(None)]
        first = func.min(IndicatorInput.period).label("first")
        if self.sets:
            columns = list(DIM_COLUMNS[: self.width])
            by_gid = self._grouping_of()
            labels = [c.label(f"g{i}") for i, c in enumerate(columns)]
            inner = (
                select(func.grouping(*columns).label("gid"), *labels, first)
                .where(*where)
                .group_by(unit, self._grouping_sets())
                .subquery()
            )
            dims = [inner.c[f"g{i}"] for i in range(self.width)]
            query = select(inner.c.gid, inner.c.first, *dims, func.count()).group_by(inner.c.gid, inner.c.first, *dims)
            for row in self.session.execute(query):
                grouping = by_gid[row[0]]
                values = row[2 : 2 + self.width]
                yield grouping, tuple(values[i] for i in grouping), row[1], int(row[-1])
            return
        for grouping in self.groupings:
            columns = [DIM_COLUMNS[i] for i in grouping]
            labels = [c.label(f"g{i}") for i, c in enumerate(columns)]
            inner = select(*labels, first).where(*where).group_by(*columns, unit).subquery()
            dims = [inner.c[f"g{i}"] for i in range(len(columns))]
            query = select(inner.c.first, *dims, func.count()).group_by(inner.c.first, *dims)
            for row in self.session.execute(query):
                yield grouping, tuple(row[1:-1]), row[0], int(row[-1])

    def last_quarter(self) -> str | None:
        """The latest quarter in which the indicator has any row: cumulative cells are stored up to it."""
        return last_quarter(self.session, self.plan)

    def gain_rows(self) -> Iterator[InputRow]:
        """Every row of the indicator, ordered by pairing unit (a person), streamed."""
        query = (
            select(*_row_columns(self.plan))
            .where(*self.where())
            .order_by(IndicatorInput.a_unit)
            .execution_options(yield_per=2000)
        )
        for row in self.session.execute(query):
            yield _input_row(row, self.width)


def _row_columns(plan: IndicatorPlan) -> list[Any]:
    return [
        col(IndicatorInput.submission_id),
        col(IndicatorInput.period),
        col(IndicatorInput.row_index),
        *DIM_COLUMNS[: len(plan.dims)],
        col(IndicatorInput.a_value),
        col(IndicatorInput.a_unit),
        col(IndicatorInput.b_value),
        col(IndicatorInput.b_unit),
    ]


def _input_row(row: Any, width: int) -> InputRow:
    submission_id, period, row_index, *rest = row
    a_value, a_unit, b_value, b_unit = rest[width:]
    return InputRow(submission_id, period, row_index, tuple(rest[:width]), a_value, a_unit, b_value, b_unit)


def unit_rows(session: Session, plan: IndicatorPlan, side: str, units: Collection[str]) -> dict[str, list[InputRow]]:
    """Every input row of these units (on one side) of one indicator: a handful per person, found by index."""
    found: dict[str, list[InputRow]] = defaultdict(list)
    ordered = sorted(units)
    for start in range(0, len(ordered), CHUNK):
        query = select(*_row_columns(plan)).where(
            col(IndicatorInput.indicator) == plan.code, UNITS[side].in_(ordered[start : start + CHUNK])
        )
        for row in session.execute(query):
            input_row = _input_row(row, len(plan.dims))
            unit = input_row.unit(side)
            assert unit is not None
            found[unit].append(input_row)
    return found


def last_quarter(session: Session, plan: IndicatorPlan) -> str | None:
    """The latest quarter in which an indicator has any input row."""
    query = select(func.max(IndicatorInput.period)).where(col(IndicatorInput.indicator) == plan.code)
    return session.execute(query).scalar()
