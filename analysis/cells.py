"""Writing computed cells: only what changed is written, so `computed_at` says when a value last moved."""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlmodel import Session, col

from analysis.aggregate import Cell
from analysis.measures import dims_key
from analysis.tables import IndicatorValue, table_of

DIGITS = 9
"""Values are rounded to 9 decimals: SQL sums of decimals may differ in the last bit with row order, and an
incremental run must give exactly what a full one gives."""

BATCH = 500


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


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, DIGITS) + 0.0


def write_cells(
    session: Session,
    code: str,
    dimensions: tuple[str, ...],
    grouping: str,
    periods: set[str],
    cells: Iterable[Cell],
    now: dt.datetime,
) -> CellChanges:
    """Make the stored cells of one indicator grouping, for these periods, equal to `cells`."""
    stored: dict[tuple[str, str], tuple[Any, ...]] = {}
    query = select(
        IndicatorValue.id,
        IndicatorValue.period,
        IndicatorValue.dims_key,
        IndicatorValue.value,
        IndicatorValue.numerator,
        IndicatorValue.denominator,
        IndicatorValue.n,
    ).where(
        col(IndicatorValue.indicator) == code,
        col(IndicatorValue.grouping) == grouping,
        col(IndicatorValue.period).in_(sorted(periods)),
    )
    for row_id, period, key, *content in session.execute(query):
        stored[(period, key)] = (row_id, tuple(content))
    changes = CellChanges()
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for cell in cells:
        dims = dict(zip(dimensions, cell.key, strict=True))
        key = dims_key(dims)
        content = (_round(cell.value), _round(cell.numerator), _round(cell.denominator), cell.n)
        found = stored.pop((cell.period, key), None)
        if found is None:
            inserts.append(
                {
                    "indicator": code,
                    "period": cell.period,
                    "grouping": grouping,
                    "dims_key": key,
                    "dims": dims,
                    "value": content[0],
                    "numerator": content[1],
                    "denominator": content[2],
                    "n": content[3],
                    "computed_at": now,
                }
            )
        elif found[1] != content:
            updates.append(
                {
                    "id": found[0],
                    "value": content[0],
                    "numerator": content[1],
                    "denominator": content[2],
                    "n": content[3],
                    "computed_at": now,
                }
            )
    if inserts:
        session.execute(insert(table_of(IndicatorValue)), inserts)
    if updates:
        session.execute(update(IndicatorValue), updates)
    gone = [row_id for row_id, _ in stored.values()]
    for start in range(0, len(gone), BATCH):
        session.execute(delete(IndicatorValue).where(col(IndicatorValue.id).in_(gone[start : start + BATCH])))
    changes.inserted, changes.updated, changes.deleted = len(inserts), len(updates), len(gone)
    return changes


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
