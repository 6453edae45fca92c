"""Writing computed cells: only what changed is written, so `computed_at` says when a value last moved.

A full run writes each grouping's cells whole (`write_cells`); an incremental run reads the cells a change
touches, adds the change's deltas to their totals and writes those back (`read_cells`, `apply_deltas`).
"""

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, literal, select, update
from sqlmodel import Session, col

from analysis.aggregate import Cell, CellId, Deltas
from analysis.measures import ZERO, IndicatorPlan, SideTotals, Totals, dims_key, grouping_name
from analysis.queries import Grouping, Key
from analysis.tables import IndicatorValue, table_of
from catalogue.model import LIFE_OF_PROGRAMME, TimeAggregation
from catalogue.tables import UtcDateTime

DIGITS = 9
"""Values are rounded to 9 decimals: a ratio or a mean is a division, and an incremental run must store exactly
what a full one stores."""

BATCH = 500
TOTALS_COLUMNS = ("n", "a_micros", "a_count", "a_units", "b_micros", "b_count", "b_units")
CONTENT_COLUMNS = ("value", "numerator", "denominator", *TOTALS_COLUMNS)


@dataclass
class CellChanges:
    inserted: int = 0
    updated: int = 0
    deleted: int = 0

    def add(self, other: "CellChanges") -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.deleted += other.deleted

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.deleted


@dataclass(frozen=True)
class StoredCell:
    id: int
    totals: Totals
    content: tuple[Any, ...]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, DIGITS) + 0.0


def _content(plan: IndicatorPlan, totals: Totals) -> tuple[Any, ...]:
    """What is stored of a cell, in `CONTENT_COLUMNS` order: its value, then its totals."""
    value, numerator, denominator = plan.finish(totals)
    a, b = totals.a, totals.b
    return (
        _round(value),
        _round(numerator),
        _round(denominator),
        totals.rows,
        a.micros,
        a.count,
        a.distinct,
        b.micros,
        b.count,
        b.distinct,
    )


def _totals(content: tuple[Any, ...]) -> Totals:
    rows, a_micros, a_count, a_units, b_micros, b_count, b_units = (int(v) for v in content[3:])
    return Totals(SideTotals(a_micros, a_count, a_units), SideTotals(b_micros, b_count, b_units), rows)


def _dims(plan: IndicatorPlan, grouping: Grouping, key: Key) -> dict[str, str]:
    return {plan.dims[i]: value for i, value in zip(grouping, key, strict=True)}


def _row(
    plan: IndicatorPlan, grouping: Grouping, period: str, key: Key, content: tuple[Any, ...], now: dt.datetime
) -> dict[str, Any]:
    dims = _dims(plan, grouping, key)
    return {
        "indicator": plan.code,
        "period": period,
        "grouping": grouping_name(tuple(dims)),
        "dims_key": dims_key(dims),
        "dims": dims,
        **dict(zip(CONTENT_COLUMNS, content, strict=True)),
        "computed_at": now,
    }


def _head_columns() -> list[Any]:
    return [col(IndicatorValue.id), col(IndicatorValue.period), col(IndicatorValue.dims_key)]


def _content_columns() -> list[Any]:
    return [col(getattr(IndicatorValue, name)) for name in CONTENT_COLUMNS]


def _write(
    session: Session, inserts: list[dict[str, Any]], updates: list[dict[str, Any]], gone: list[int]
) -> CellChanges:
    if inserts:
        session.execute(insert(table_of(IndicatorValue)), inserts)
    if updates:
        session.execute(update(IndicatorValue), updates)
    for start in range(0, len(gone), BATCH):
        session.execute(delete(IndicatorValue).where(col(IndicatorValue.id).in_(gone[start : start + BATCH])))
    return CellChanges(len(inserts), len(updates), len(gone))


def write_cells(
    session: Session, plan: IndicatorPlan, grouping: Grouping, cells: Iterable[Cell], now: dt.datetime
) -> CellChanges:
    """Make the stored cells of one indicator grouping, every period, equal to `cells` (a full run)."""
    name = grouping_name(tuple(plan.dims[i] for i in grouping))
    query = select(
        col(IndicatorValue.id), col(IndicatorValue.period), col(IndicatorValue.dims_key), *_content_columns()
    )
    query = query.where(col(IndicatorValue.indicator) == plan.code, col(IndicatorValue.grouping) == name)
    stored = {(period, key): (row_id, tuple(content)) for row_id, period, key, *content in session.execute(query)}
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for cell in cells:
        content = _content(plan, cell.totals)
        found = stored.pop((cell.period, dims_key(_dims(plan, grouping, cell.key))), None)
        if found is None:
            inserts.append(_row(plan, grouping, cell.period, cell.key, content, now))
        elif found[1] != content:
            updates.append({"id": found[0], **dict(zip(CONTENT_COLUMNS, content, strict=True)), "computed_at": now})
    return _write(session, inserts, updates, [row_id for row_id, _ in stored.values()])


def read_cells(
    session: Session, plan: IndicatorPlan, cells: Iterable[tuple[Grouping, Key]], periods: Iterable[str]
) -> dict[CellId, StoredCell]:
    """The stored cells among these (grouping, key) in these periods: read through the unique index."""
    by_key = {dims_key(_dims(plan, grouping, key)): (grouping, key) for grouping, key in cells}
    keys, wanted = sorted(by_key), sorted(set(periods))
    found: dict[CellId, StoredCell] = {}
    for start in range(0, len(keys), BATCH):
        query = select(*_head_columns(), *_content_columns()).where(
            col(IndicatorValue.indicator) == plan.code,
            col(IndicatorValue.period).in_(wanted),
            col(IndicatorValue.dims_key).in_(keys[start : start + BATCH]),
        )
        for row_id, period, key, *content in session.execute(query):
            grouping, values = by_key[key]
            found[(grouping, values, period)] = StoredCell(row_id, _totals(tuple(content)), tuple(content))
    return found


def apply_deltas(
    session: Session,
    plan: IndicatorPlan,
    deltas: Deltas,
    stored: Mapping[CellId, StoredCell],
    last: str | None,
    now: dt.datetime,
) -> tuple[CellChanges, set[str]]:
    """Add a change's deltas to the stored cells; a cell left without rows goes. Returns what was written and
    the periods touched. Cumulative quarters after the indicator's last quarter with data are not stored."""
    cumulative = plan.indicator.time_aggregation is TimeAggregation.cumulative
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    gone: list[int] = []
    periods: set[str] = set()
    for (grouping, key, period), delta in deltas.items():
        if delta == ZERO or (cumulative and period != LIFE_OF_PROGRAMME and (last is None or period > last)):
            continue
        periods.add(period)
        found = stored.get((grouping, key, period))
        totals = (found.totals if found else ZERO).plus(delta)
        if totals.rows <= 0:
            if found is not None:
                gone.append(found.id)
            continue
        content = _content(plan, totals)
        if found is None:
            inserts.append(_row(plan, grouping, period, key, content, now))
        elif found.content != content:
            updates.append({"id": found.id, **dict(zip(CONTENT_COLUMNS, content, strict=True)), "computed_at": now})
    return _write(session, inserts, updates, gone), periods


def stored_last_quarter(session: Session, code: str) -> str | None:
    """The latest quarter with a stored cell: for a cumulative indicator, its last quarter with data."""
    query = select(func.max(IndicatorValue.period)).where(
        col(IndicatorValue.indicator) == code, col(IndicatorValue.period) != LIFE_OF_PROGRAMME
    )
    return session.execute(query).scalar()


def stored_rows(session: Session, code: str) -> int:
    """The rows behind an indicator's LOP total (for `latest`, its reporters' last quarters): its size, cheaply."""
    query = select(IndicatorValue.n).where(
        col(IndicatorValue.indicator) == code,
        col(IndicatorValue.period) == LIFE_OF_PROGRAMME,
        col(IndicatorValue.dims_key) == "",
    )
    return int(session.execute(query).scalar() or 0)


def move_last_quarter(
    session: Session, code: str, quarters: Iterable[str], before: str | None, after: str | None, now: dt.datetime
) -> CellChanges:
    """Cumulative cells run to the indicator's last quarter with data: when it moves later, every cell is
    carried over to the new quarters (its running totals do not change there); when earlier, the quarters
    past it go."""
    if before is None or before == after:
        return CellChanges()
    if after is None or after < before:
        gone = delete(IndicatorValue).where(
            col(IndicatorValue.indicator) == code,
            col(IndicatorValue.period) != LIFE_OF_PROGRAMME,
            col(IndicatorValue.period) > (after or ""),
        )
        return CellChanges(deleted=int(session.execute(gone).rowcount or 0))  # type: ignore[attr-defined]
    copied = 0
    names = ["indicator", "grouping", "dims_key", "dims", *CONTENT_COLUMNS]
    for quarter in (q for q in quarters if before < q <= after):
        source = select(
            *(col(getattr(IndicatorValue, name)) for name in names), literal(quarter), literal(now, UtcDateTime())
        ).where(col(IndicatorValue.indicator) == code, col(IndicatorValue.period) == before)
        result = session.execute(
            insert(table_of(IndicatorValue)).from_select([*names, "period", "computed_at"], source)
        )
        copied += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return CellChanges(inserted=copied)


def drop_stale(session: Session, groupings: dict[str, set[str]]) -> int:
    """Delete cells of indicators or groupings the catalogue no longer has; returns how many."""
    deleted = 0
    stale = delete(IndicatorValue).where(col(IndicatorValue.indicator).not_in(sorted(groupings)))
    deleted += session.execute(stale).rowcount or 0  # type: ignore[attr-defined]
    for code, names in groupings.items():
        query = delete(IndicatorValue).where(
            col(IndicatorValue.indicator) == code, col(IndicatorValue.grouping).not_in(sorted(names))
        )
        deleted += session.execute(query).rowcount or 0  # type: ignore[attr-defined]
    return deleted
