"""An indicator's measure, applied to one fact row: which sides the row feeds, and how side totals make a value.

Every measure is one or two *sides*. A plain measure (count, distinct, distinct_people, sum, mean) has one; a
ratio has a numerator and a denominator, each a term with its own filter; a gain has a pre and a post score.
A side either adds a number (`value`: 1 per row for a count, the answer for a sum or mean) or names a unit to
count once (`unit`: a person key, a distinct answer, the pairing key of a gain). Turning rows into sides here,
once, is what lets every aggregation run as plain SQL.
"""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Literal

from analysis.facts import FactRow, FormPlan, indicator_questions, measure_scope
from analysis.tables import MAX_DISAGGREGATIONS
from catalogue.filters import Expr, evaluate, parse_filter
from catalogue.model import Aggregation, Indicator, MeasureType
from catalogue.store import split_key

_YES = {"yes", "true", "oui"}
_NO = {"no", "false", "non"}


@dataclass(frozen=True)
class Side:
    """One side of a measure: an aggregation of an optional question over the rows passing an optional filter."""

    aggregation: str
    question: str | None
    filter: Expr | None

    @property
    def counts_units(self) -> bool:
        """Distinct counts cannot be added across cells or periods: they are recounted from units."""
        return self.aggregation in ("distinct", "distinct_people")


MICRO = 1_000_000
"""Values are summed as whole millionths: integer sums are exact whatever order rows are added or removed in, so
a total kept up to date by differences equals the one a full run sums from scratch, to the last digit."""


def as_micros(value: float) -> int:
    """A value as a whole number of millionths (values are stored rounded to six decimals, so this is exact)."""
    return round(value * MICRO)


@dataclass(frozen=True)
class InputRow:
    """What one fact row gives one indicator (a row of `analysis_input`)."""

    submission_id: int
    period: str
    row_index: int
    dims: tuple[str, ...]
    a_value: float | None
    a_unit: str | None
    b_value: float | None
    b_unit: str | None

    def unit(self, side: str) -> str | None:
        return self.a_unit if side == "a" else self.b_unit


@dataclass(frozen=True)
class SideTotals:
    """A side aggregated over a set of rows: Σ values (in millionths), how many values, how many distinct units."""

    micros: int = 0
    count: int = 0
    distinct: int = 0

    @property
    def total(self) -> float:
        return self.micros / MICRO

    def plus(self, other: "SideTotals") -> "SideTotals":
        return SideTotals(self.micros + other.micros, self.count + other.count, self.distinct + other.distinct)

    def minus(self, other: "SideTotals") -> "SideTotals":
        return SideTotals(self.micros - other.micros, self.count - other.count, self.distinct - other.distinct)


@dataclass(frozen=True)
class Totals:
    """What a cell is made of: both sides over the cell's rows, and how many rows there are.

    Every part is an integer that adds across rows, so a stored cell changes by the difference its changed rows
    make. A gain keeps Σ (post − pre) of its pairs in `a.micros` and the number of pairs in `a.count`.
    """

    a: SideTotals = SideTotals()
    b: SideTotals = SideTotals()
    rows: int = 0

    def plus(self, other: "Totals") -> "Totals":
        return Totals(self.a.plus(other.a), self.b.plus(other.b), self.rows + other.rows)

    def minus(self, other: "Totals") -> "Totals":
        return Totals(self.a.minus(other.a), self.b.minus(other.b), self.rows - other.rows)


ZERO = Totals()


def numeric(value: Any, scale: Mapping[str, int]) -> float | None:
    """An answer as a number for sums and means: numbers, yes/no as 1/0, an ordinal level as its rank."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _YES:
            return 1.0
        if text in _NO:
            return 0.0
        if value in scale:
            return float(scale[value])
        try:
            return float(text)
        except ValueError:
            return None
    return None


def unit_text(value: Any) -> str | None:
    """An answer as a unit to count once (a multi-select counts as its set of codes)."""
    if value is None:
        return None
    if isinstance(value, list):
        text = " ".join(sorted(str(v) for v in value))
    elif hasattr(value, "isoformat"):
        text = value.isoformat()
    else:
        text = str(value)
    if len(text) > 64:
        return "h:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]
    return text


def groupings(count: int) -> list[tuple[int, ...]]:
    """The disaggregation cells stored for an indicator with `count` disaggregations, as position tuples.

    The total, each single dimension, each pair, and the full cross-classification: every subset when there
    are three or fewer, 2 + k + k(k-1)/2 groupings otherwise (23 for PRIM 2's six), instead of the 2^k of
    DHIS2. Distinct counts cannot be summed from finer cells, so what is not stored cannot be served exactly.
    """
    subsets: list[tuple[int, ...]] = [(), *((i,) for i in range(count)), *combinations(range(count), 2)]
    if count >= 3:
        subsets.append(tuple(range(count)))
    return subsets


def grouping_name(dimensions: tuple[str, ...]) -> str:
    """`region,sex`: the dimensions of a cell, sorted; empty for the total."""
    return ",".join(sorted(dimensions))


def dims_key(dims: Mapping[str, str]) -> str:
    """`region=02;sex=female`: a cell's values, in the format of disaggregated targets' `split`."""
    return split_key(dict(dims))


def _six(value: float | None) -> float | None:
    """Six decimals are kept, so that every value is a whole number of millionths (see `MICRO`)."""
    return None if value is None else round(value, 6) + 0.0


def _parsed(source: str | None) -> Expr | None:
    return parse_filter(source) if source else None


@dataclass(frozen=True)
class IndicatorPlan:
    """How one indicator reads fact rows and turns side totals into a value."""

    indicator: Indicator
    level: str | None
    """The repeat whose rows the measure is computed over (`period_report/reached`), or None for submissions."""
    dims: tuple[str, ...]
    base_filter: Expr | None
    a: Side
    b: Side | None
    kind: Literal["plain", "ratio", "gain"]
    factor: float
    """100 for percentages and yes/no shares, else 1."""
    scale: dict[str, int]

    @property
    def code(self) -> str:
        return self.indicator.code

    @classmethod
    def of(cls, indicator: Indicator, form: FormPlan) -> "IndicatorPlan":
        measure = indicator.measure
        if len(indicator.disaggregations) > MAX_DISAGGREGATIONS:
            raise ValueError(
                f"indicator '{indicator.code}' has {len(indicator.disaggregations)} disaggregations; "
                f"the engine stores at most {MAX_DISAGGREGATIONS}"
            )
        kind: Literal["plain", "ratio", "gain"]
        b: Side | None = None
        if measure.aggregation is Aggregation.ratio:
            assert measure.numerator is not None and measure.denominator is not None
            kind = "ratio"
            a = Side(measure.numerator.aggregation, measure.numerator.question, _parsed(measure.numerator.filter))
            b = Side(measure.denominator.aggregation, measure.denominator.question, _parsed(measure.denominator.filter))
        elif measure.aggregation is Aggregation.gain:
            kind = "gain"
            a = Side("mean", measure.pre, None)
            b = Side("mean", measure.post, None)
        else:
            kind = "plain"
            a = Side(measure.aggregation.value, measure.question, None)
        base = _parsed(measure.filter)
        shares = indicator.measure_type is MeasureType.yes_no and measure.aggregation is Aggregation.mean
        factor = 100.0 if indicator.measure_type is MeasureType.percentage or shares else 1.0
        scale = {level.code: rank for rank, level in enumerate(indicator.scale.levels, 1)} if indicator.scale else {}
        read = indicator_questions(indicator)
        return cls(
            indicator=indicator,
            level="/".join(measure_scope(indicator.code, form.questions, read)) or None,
            dims=tuple(indicator.disaggregations),
            base_filter=base,
            a=a,
            b=b,
            kind=kind,
            factor=factor,
            scale=scale,
        )

    def _side(self, side: Side, values: Mapping[str, Any], person: str) -> tuple[float | None, str | None]:
        if side.filter is not None and not evaluate(side.filter, values):
            return None, None
        match side.aggregation:
            case "count":
                return 1.0, None
            case "distinct_people":
                return None, person
            case "distinct":
                return None, unit_text(values.get(side.question or ""))
            case _:
                return numeric(values.get(side.question or ""), self.scale), None

    def input_row(self, fact: FactRow, submission_id: int, periods: frozenset[str]) -> InputRow | None:
        """What a fact row gives this indicator, or None when it feeds no side or falls outside the programme.

        A row without a person key counts as one person of its own (its submission): an unidentified contact
        is still someone reached. A gain pairs a person's pre and post scores by person key, or, on a form
        without identifiers, within the same row.
        """
        if fact.period is None or fact.period not in periods:
            return None
        if fact.repeat != self.level:
            return None
        if self.base_filter is not None and not evaluate(self.base_filter, fact.values):
            return None
        person = fact.person_key or f"s:{submission_id}"
        if self.kind == "gain":
            pair = fact.person_key or f"r:{submission_id}:{fact.row_index}"
            pre = numeric(fact.values.get(self.a.question or ""), self.scale)
            post = numeric(fact.values.get(self.b.question or ""), self.scale) if self.b else None
            if pre is None and post is None:
                return None
            a_value, a_unit, b_value, b_unit = pre, pair, post, None
        else:
            a_value, a_unit = self._side(self.a, fact.values, person)
            b_value, b_unit = self._side(self.b, fact.values, person) if self.b else (None, None)
            if a_value is None and a_unit is None and b_value is None and b_unit is None:
                return None
        dims = tuple(fact.dims.get(dim, "unknown") for dim in self.dims)
        return InputRow(submission_id, fact.period, fact.row_index, dims, _six(a_value), a_unit, _six(b_value), b_unit)

    def side_value(self, side: Side, totals: SideTotals) -> float | None:
        if side.counts_units:
            return float(totals.distinct)
        if side.aggregation == "mean":
            return totals.total / totals.count if totals.count else None
        return totals.total

    def finish(self, totals: Totals) -> tuple[float | None, float | None, float | None]:
        """(value, numerator, denominator) of a cell from its totals.

        A ratio is factor·Σnum/Σden over the cell's rows, never a mean of sub-ratios; with Σden = 0 it has no
        value. A mean keeps its sum and count so that it can be checked and recombined; so does a gain (Σ of the
        pairs' gains, number of pairs), which has no value without a pair.
        """
        a, b = totals.a, totals.b
        if self.kind == "gain":
            if not a.count:
                return None, 0.0, 0.0
            return a.total / a.count, a.total, float(a.count)
        if self.kind == "ratio" and self.b is not None:
            numerator = self.side_value(self.a, a)
            denominator = self.side_value(self.b, b)
            if numerator is None or not denominator:
                return None, numerator, denominator
            return self.factor * numerator / denominator, numerator, denominator
        if self.a.aggregation == "mean":
            if not a.count:
                return None, a.total, 0.0
            return self.factor * a.total / a.count, a.total, float(a.count)
        return self.side_value(self.a, a), None, None
