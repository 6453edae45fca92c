"""A small adversarial world written by hand: stored cells added up from one record per person (or complaint),
shaped after the leaks issue 9 found (a partner's to date, a squeezed running total, one sensitive complaint)."""

from typing import Any

from analysis.tables import IndicatorValue
from catalogue.model import LIFE_OF_PROGRAMME
from catalogue.store import split_key
from catalogue.validation import read_catalogue
from sera.settings import DEFAULT_CATALOGUE

LOP = LIFE_OF_PROGRAMME

Record = dict[str, Any]


def _people(count: int, quarter: str, **dims: Any) -> list[Record]:
    return [{"quarter": quarter, **dims} for _ in range(count)]


WORLD: dict[str, tuple[str, list[str], list[Record]]] = {
    # Partner SM-01 reached 3 men in 2026Q4 and 6 in 2027Q1: its reports' to date (3, then 9) gave the first away.
    "R1.3-4": (
        "flow",
        ["sex", "partner"],
        _people(3, "2026Q4", sex="male", partner="SM-01")
        + _people(6, "2027Q1", sex="male", partner="SM-01")
        + _people(20, "2026Q4", sex="female", partner="SM-01")
        + _people(30, "2027Q1", sex="female", partner="SM-01")
        + _people(10, "2026Q4", sex="male", partner="SM-02")
        + _people(12, "2027Q1", sex="male", partner="SM-02")
        + _people(15, "2026Q4", sex="female", partner="SM-02")
        + _people(8, "2027Q1", sex="female", partner="SM-02"),
    ),
    # Region 09 does not move after 2026Q4 while region 11 gains 3 people: the hidden 2027Q1 of region 09 sat
    # between two equal visible values.
    "R2.2-3": (
        "running",
        ["sex", "region"],
        _people(15, "2026Q4", sex="female", region="09", num=1)
        + _people(15, "2026Q4", sex="male", region="09", num=1)
        + _people(8, "2026Q4", sex="female", region="09", num=0)
        + _people(20, "2026Q4", sex="male", region="11", num=1)
        + _people(2, "2026Q4", sex="female", region="11", num=0)
        + _people(2, "2027Q1", sex="male", region="11", num=1)
        + _people(1, "2027Q1", sex="female", region="11", num=0)
        + _people(8, "2027Q2", sex="male", region="11", num=1)
        + _people(2, "2027Q2", sex="female", region="11", num=0),
    ),
    # One sensitive complaint by a woman about SM-01, and a handful of others: served raw before.
    "RT.1-1": (
        "flow",
        ["sex", "feedback_category", "partner"],
        _people(1, "2026Q4", sex="female", feedback_category="sensitive", partner="SM-01")
        + _people(12, "2026Q4", sex="female", feedback_category="service", partner="SM-01")
        + _people(9, "2026Q4", sex="male", feedback_category="service", partner="SM-02")
        + _people(2, "2026Q4", sex="male", feedback_category="access", partner="SM-01")
        + _people(7, "2027Q1", sex="female", feedback_category="service", partner="SM-02")
        + _people(8, "2027Q1", sex="male", feedback_category="service", partner="SM-01"),
    ),
}
"""Indicator → (`flow`: a count per quarter, LOP the sum; `running`: a ratio to date, LOP the last quarter),
the dimensions kept, and one record per person (or complaint); `num` marks a ratio's numerator."""
WORLD_QUARTERS = ("2026Q4", "2027Q1", "2027Q2")


def world_cells() -> list[IndicatorValue]:
    """Every grouping of at most two dimensions, every quarter and LOP, added up from the records."""
    rows = []
    kept = {i.code: i.disaggregations for i in read_catalogue(DEFAULT_CATALOGUE).indicators}
    for code, (kind, named, written) in WORLD.items():
        dims = [*named, *(d for d in kept[code] if d not in named)]
        records = [dict.fromkeys(dims, "x") | record for record in written]  # one value of every other dimension
        groupings = [()] + [(d,) for d in dims] + [(a, b) for i, a in enumerate(dims) for b in dims[i + 1 :]]
        for grouping in groupings:
            periods = [*WORLD_QUARTERS, LOP]
            for period in periods:
                if kind == "flow":
                    chosen = [r for r in records if period in (LOP, r["quarter"])]
                else:
                    last = period if period != LOP else WORLD_QUARTERS[-1]
                    chosen = [r for r in records if r["quarter"] <= last]
                groups: dict[tuple[str, ...], list[Record]] = {}
                for record in chosen:
                    groups.setdefault(tuple(record[d] for d in grouping), []).append(record)
                for key, members in groups.items():
                    split = dict(zip(grouping, key, strict=True))
                    if kind == "flow":
                        value, numerator, denominator = float(len(members)), None, None
                    else:
                        numerator, denominator = float(sum(r["num"] for r in members)), float(len(members))
                        value = 100 * numerator / denominator
                    rows.append(
                        IndicatorValue(
                            indicator=code,
                            period=period,
                            grouping=",".join(sorted(split)),
                            dims_key=split_key(split),
                            dims=split,
                            value=value,
                            numerator=numerator,
                            denominator=denominator,
                            n=len(members),
                        )
                    )
    return rows
