"""Figures computed by hand from the attendance sheets the test's phones sent, as the catalogue defines them.

R1.3-1 counts people once over the programme, in the quarter of their first contact (LOP = distinct people);
R1.3-2 counts every consented sheet (contacts; LOP = the sum of the quarters). Each test person always has the
same sex and partner, so every split of a person is unambiguous.
"""

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from tests.acceptance.phones import Person

PEOPLE, CONTACTS = "R1.3-1", "R1.3-2"
THRESHOLD = 5
Cell = tuple[str, tuple[tuple[str, str], ...]]
"""(period, sorted (dimension, code) pairs)."""


def quarter(day: dt.date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


@dataclass(frozen=True)
class Sheet:
    """A live attendance submission as the server holds it now (after any edit)."""

    who: Person
    partner: str
    day: dt.date


def figures(
    sheets: Iterable[Sheet], indicator: str, by: Iterable[str], where: dict[str, str] | None = None
) -> dict[Cell, int]:
    """Every non-zero cell of `indicator` split by `by` (quarters and LOP), keeping only sheets matching `where`."""
    dims = sorted(set(by) | set(where or {}))
    chosen = [s for s in sheets if all(_dim(s, d) == v for d, v in (where or {}).items())]
    cells: Counter[Cell] = Counter()
    if indicator == CONTACTS:
        for sheet in chosen:
            key = tuple((d, _dim(sheet, d)) for d in dims)
            cells[(quarter(sheet.day), key)] += 1
            cells[("LOP", key)] += 1
        return dict(cells)
    assert indicator == PEOPLE, indicator
    first: dict[tuple[str, str, int, str], Sheet] = {}
    for sheet in chosen:
        seen = first.get(sheet.who.ident)
        if seen is not None:
            assert (seen.who.sex, seen.partner) == (sheet.who.sex, sheet.partner), "a test person changed split"
        if seen is None or sheet.day < seen.day:
            first[sheet.who.ident] = sheet
    for sheet in first.values():
        key = tuple((d, _dim(sheet, d)) for d in dims)
        cells[(quarter(sheet.day), key)] += 1
        cells[("LOP", key)] += 1
    return dict(cells)


def _dim(sheet: Sheet, dimension: str) -> str:
    if dimension == "sex":
        return sheet.who.sex
    if dimension == "partner":
        return sheet.partner
    raise ValueError(f"the test counts by sex and partner only, not {dimension}")


def api_cells(items: list[dict], dims: Iterable[str]) -> dict[Cell, dict]:
    """The API's cells keyed like `figures` (only the chosen dimensions, all present)."""
    names = sorted(dims)
    return {(item["period"], tuple((d, item["dims"][d]) for d in names)): item for item in items}
