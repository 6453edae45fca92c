"""A suppression audit by linear programming, independent of `analysis.values` on purpose.

The auditor is given every figure one token could obtain (visible values and the figures shown as hidden), the true
value of every stored cell (read by the test from the store), and writes the linear relations a reader knows hold
between the figures: totals and their parts, LOP and the quarters, cumulative quarters, to-date sums, the same
people counted by two indicators. A relation is written as an equality when the true values satisfy it exactly
(the strongest reader knows which splits are exclusive), else as the inequalities they do satisfy (distinct people
met in two regions: the total is at most the sum of the parts, each part at most the total), else not at all.
Then for every hidden cell, `scipy.optimize.linprog` (HiGHS) finds the smallest and the largest value consistent
with everything visible, non-negativity and the relations (integrality relaxed). A hidden cell whose range is
narrower than the threshold is a leak; so is a visible count of 1 to threshold-1, and a figure hidden in one place
and shown in another.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np
from scipy.optimize import linprog

from catalogue.model import LIFE_OF_PROGRAMME, Aggregation, Indicator, TimeAggregation

LOP = LIFE_OF_PROGRAMME
CELL = "cell"
TO_DATE = "to_date"
TOLERANCE = 1e-6

Split = tuple[tuple[str, str], ...]
Var = tuple[str, str, str, Split, str]
"""(indicator, `cell` or `to_date`, period, split, side): one count a figure publishes."""
Relation = tuple[dict[Var, float], str]
"""Σ coefficient·variable (`eq`: = 0, `le`: ≤ 0)."""


def sides(indicator: Indicator) -> tuple[str, ...]:
    """The counts of people a cell of the indicator publishes (a gain's numerator is a sum of points, not people)."""
    aggregation = indicator.measure.aggregation
    if aggregation is Aggregation.ratio:
        return ("numerator", "denominator")
    if aggregation in (Aggregation.gain, Aggregation.mean):
        return ("denominator",)
    return ("value",)


def split_of(dims: Mapping[str, str]) -> Split:
    return tuple(sorted(dims.items()))


@dataclass
class Leak:
    var: Var
    low: float
    high: float
    why: str

    def __str__(self) -> str:
        code, kind, period, split, side = self.var
        return f"{code} {kind} {period} {dict(split)} {side}: {self.why} [{self.low:g}, {self.high:g}]"


@dataclass
class Audit:
    """What one token saw, and the truth behind it."""

    threshold: int
    indicators: dict[str, Indicator]
    truth: dict[Var, float] = field(default_factory=dict)
    shown: dict[Var, float] = field(default_factory=dict)
    hidden: set[Var] = field(default_factory=set)
    conflicts: list[Leak] = field(default_factory=list)
    figures: int = 0

    # --- what the token saw -----------------------------------------------------------------------------------

    def see(self, code: str, kind: str, period: str, dims: Mapping[str, str], figure: Mapping[str, Any]) -> None:
        """One figure as served: `value`, `numerator`, `denominator`, `suppressed`."""
        self.figures += 1
        for side in sides(self.indicators[code]):
            var = (code, kind, period, split_of(dims), side)
            if figure.get("suppressed"):
                self.hidden.add(var)
                continue
            value = figure.get(side)
            if value is None:
                continue
            known = self.shown.get(var)
            if known is not None and abs(known - value) > TOLERANCE:
                self.conflicts.append(Leak(var, known, value, "two different values shown"))
            self.shown[var] = float(value)

    # --- the relations ----------------------------------------------------------------------------------------

    def relations(self) -> list[Relation]:
        out: list[Relation] = []
        cells: dict[str, list[Var]] = defaultdict(list)
        for var in self.truth:
            if var[1] == CELL:
                cells[var[0]].append(var)
        for code, variables in cells.items():
            indicator = self.indicators[code]
            out += self._dimension_relations(variables)
            out += self._time_relations(indicator, variables)
        out += self._to_date_relations()
        out += self._shared_people(cells)
        return out

    def _add(self, out: list[Relation], parent: Var, children: list[Var]) -> None:
        """parent = Σ children when the truth says so, else parent ≤ Σ children and each child ≤ parent."""
        total = sum(self.truth[c] for c in children)
        if abs(self.truth[parent] - total) <= TOLERANCE:
            out.append(({parent: 1.0, **_minus(children)}, "eq"))
            return
        if self.truth[parent] <= total + TOLERANCE and all(
            self.truth[c] <= self.truth[parent] + TOLERANCE for c in children
        ):
            out.append(({parent: 1.0, **_minus(children)}, "le"))
            out.extend(({child: 1.0, parent: -1.0}, "le") for child in children)

    def _dimension_relations(self, variables: list[Var]) -> list[Relation]:
        out: list[Relation] = []
        index = set(variables)
        groupings: dict[tuple[str, ...], list[Var]] = defaultdict(list)
        for var in variables:
            groupings[tuple(d for d, _ in var[3])].append(var)
        for grouping, children in groupings.items():
            for parent_grouping in groupings:
                if not set(parent_grouping) < set(grouping):
                    continue
                parts: dict[Var, list[Var]] = defaultdict(list)
                for child in children:
                    code, kind, period, split, side = child
                    parent = (code, kind, period, tuple(p for p in split if p[0] in parent_grouping), side)
                    parts[parent].append(child)
                for parent, part in parts.items():
                    if parent in index:
                        self._add(out, parent, part)
        return out

    def _time_relations(self, indicator: Indicator, variables: list[Var]) -> list[Relation]:
        out: list[Relation] = []
        series: dict[tuple[Split, str], list[Var]] = defaultdict(list)
        for var in sorted(variables, key=lambda v: (v[2] == LOP, v[2])):
            series[(var[3], var[4])].append(var)
        aggregation = indicator.time_aggregation
        for run in series.values():
            if run[-1][2] != LOP or len(run) < 2:
                continue
            lop, quarters = run[-1], run[:-1]
            if aggregation in (TimeAggregation.sum, TimeAggregation.unique_people):
                self._add(out, lop, quarters)
            elif aggregation is TimeAggregation.cumulative:
                self._add(out, lop, [quarters[-1]])
                for before, after in pairwise(quarters):
                    if self.truth[before] <= self.truth[after] + TOLERANCE:  # running totals never decrease
                        out.append(({before: 1.0, after: -1.0}, "le"))
        return out

    def _to_date_relations(self) -> list[Relation]:
        """A to-date figure is the sum of its quarters (`sum`, `unique_people`) or its quarter (`cumulative`)."""
        out: list[Relation] = []
        for var in self.truth:
            if var[1] != TO_DATE:
                continue
            sources = self.to_date_sources(var)
            if sources:
                out.append(({var: 1.0, **_minus(sources)}, "eq"))
        return out

    def to_date_sources(self, var: Var) -> list[Var]:
        code, _kind, period, split, side = var
        aggregation = self.indicators[code].time_aggregation
        quarters = sorted(
            v for v in self.truth if v[:2] == (code, CELL) and v[3] == split and v[4] == side and LOP != v[2] <= period
        )
        if aggregation is TimeAggregation.cumulative:
            return quarters[-1:]
        if aggregation in (TimeAggregation.sum, TimeAggregation.unique_people):
            return quarters
        return []

    def _shared_people(self, cells: dict[str, list[Var]]) -> list[Relation]:
        """The running total of one indicator's side equal to the sum of another's quarters to date (R1.3-5's
        denominator and R1.3-1, RT.1-2's and RT.1-1): found on the truth, as a reader would from the definitions."""
        out: list[Relation] = []
        flows = {
            code: vs
            for code, vs in cells.items()
            if self.indicators[code].time_aggregation in (TimeAggregation.sum, TimeAggregation.unique_people)
            and sides(self.indicators[code]) == ("value",)
        }
        for code, variables in cells.items():
            indicator = self.indicators[code]
            if indicator.time_aggregation is not TimeAggregation.cumulative:
                continue
            for other, other_vars in flows.items():
                if self.indicators[other].measure.form != indicator.measure.form:
                    continue
                by_key = {(v[2], v[3]): v for v in other_vars}
                outside = {tuple(p for p in v[3] if p[0] not in indicator.disaggregations) for v in other_vars}
                extras: list[Split] = [(), *sorted(outside - {()})]
                for side in sides(indicator):
                    for extra in extras:
                        if len(extra) > 1:
                            continue
                        pairs = []
                        for var in variables:
                            if var[4] != side or var[2] == LOP:
                                continue
                            split = split_of({**dict(var[3]), **dict(extra)})
                            parts = [v for (p, s), v in by_key.items() if s == split and p <= var[2] and p != LOP]
                            if not parts:
                                pairs = []
                                break
                            pairs.append((var, parts))
                        if pairs and all(
                            abs(self.truth[var] - sum(self.truth[p] for p in parts)) <= TOLERANCE
                            for var, parts in pairs
                        ):
                            out.extend(({var: 1.0, **_minus(parts)}, "eq") for var, parts in pairs)
        return out

    # --- solving ------------------------------------------------------------------------------------------------

    def leaks(self) -> list[Leak]:
        """Every hidden cell a reader can pin within less than the threshold, visible small counts, conflicts."""
        found = list(self.conflicts)
        found.extend(
            Leak(var, value, value, "a small count shown")
            for var, value in self.shown.items()
            if 0 < value < self.threshold
        )
        found.extend(
            Leak(var, self.shown[var], self.shown[var], "hidden in one place, shown in another")
            for var in self.hidden & self.shown.keys()
        )
        relations = [r for r in self.relations() if all(v in self.truth for v in r[0])]
        for component, rels in _components(relations):
            targets = sorted(v for v in component if v in self.hidden and v[1] == CELL and v not in self.shown)
            if not targets:
                continue
            found += self._solve(component, rels, targets)
        return found

    def _solve(self, component: set[Var], relations: list[Relation], targets: list[Var]) -> list[Leak]:
        unknown = sorted(v for v in component if v not in self.shown)
        column = {v: i for i, v in enumerate(unknown)}
        rows: dict[str, list[np.ndarray]] = {"eq": [], "le": []}
        rhs: dict[str, list[float]] = {"eq": [], "le": []}
        for coefficients, sense in relations:
            row = np.zeros(len(unknown))
            constant = 0.0
            for var, coefficient in coefficients.items():
                if var in column:
                    row[column[var]] += coefficient
                else:
                    constant += coefficient * self.shown[var]
            if not row.any():
                continue
            rows[sense].append(row)
            rhs[sense].append(-constant)
        problem: dict[str, Any] = {"bounds": (0, None), "method": "highs"}
        if rows["eq"]:
            problem |= {"A_eq": np.array(rows["eq"]), "b_eq": np.array(rhs["eq"])}
        if rows["le"]:
            problem |= {"A_ub": np.array(rows["le"]), "b_ub": np.array(rhs["le"])}
        points = [np.array([self.truth[v] for v in unknown])]
        # Feasible points far from the truth certify most ranges at once (any two feasible points bound a cell's
        # range from below); only the cells they leave uncertain get their own two linear programs.
        rng = np.random.default_rng(0)
        target_columns = np.array([column[v] for v in targets])
        for attempt in range(6):
            objective = np.zeros(len(unknown))
            weights = np.ones(len(targets)) if attempt < 2 else rng.choice([-1.0, 1.0], len(targets))
            objective[target_columns] = weights * (1.0 if attempt % 2 == 0 else -1.0)
            found = linprog(objective, **problem)
            if found.status == 0:
                points.append(found.x)
        # Every point a program finds is kept: it certifies the ranges of the cells checked after it.
        low_points = np.min(points, axis=0)
        high_points = np.max(points, axis=0)
        leaks = []
        for var in targets:
            i = column[var]
            if high_points[i] - low_points[i] >= self.threshold:
                continue
            objective = np.zeros(len(unknown))
            objective[i] = 1.0
            high = linprog(-objective, **problem)
            assert high.status in (0, 3), f"{var}: the truth must be feasible ({high.message})"
            highest = -high.fun if high.status == 0 else float("inf")
            if high.status == 0:
                low_points, high_points = np.minimum(low_points, high.x), np.maximum(high_points, high.x)
            if highest - low_points[i] >= self.threshold:
                continue
            low = linprog(objective, **problem)
            assert low.status == 0, f"{var}: the truth must be feasible ({low.message})"
            low_points, high_points = np.minimum(low_points, low.x), np.maximum(high_points, low.x)
            lowest = low.fun
            truth = self.truth[var]
            assert lowest - 1e-4 <= truth <= highest + 1e-4, f"{var}: the relations must hold for the truth"
            if highest - lowest < self.threshold - TOLERANCE:
                leaks.append(Leak(var, lowest, highest, "hidden but pinned within less than the threshold"))
        return leaks


def _minus(variables: Iterable[Var]) -> dict[Var, float]:
    out: dict[Var, float] = defaultdict(float)
    for var in variables:
        out[var] -= 1.0
    return out


def _components(relations: list[Relation]) -> list[tuple[set[Var], list[Relation]]]:
    """Relations grouped by the variables they share (union-find), each group solved on its own."""
    parent: dict[Var, Var] = {}

    def find(var: Var) -> Var:
        parent.setdefault(var, var)
        while parent[var] != var:
            parent[var] = parent[parent[var]]
            var = parent[var]
        return var

    for coefficients, _sense in relations:
        first, *rest = coefficients
        for var in rest:
            parent[find(var)] = find(first)
        find(first)
    groups: dict[Var, tuple[set[Var], list[Relation]]] = {}
    for relation in relations:
        root = find(next(iter(relation[0])))
        group = groups.setdefault(root, (set(), []))
        group[0].update(relation[0])
        group[1].append(relation)
    return list(groups.values())
