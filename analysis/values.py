"""Reading indicator values for consumers: the cells of a grouping, with targets and status, and suppression.

Small counts of people can identify them (Moroccan law 09-08 on personal data), so the cells of indicators that
rest on people or person-level records (`counts_people`: distinct people, or any measure split by sex or age
band — complaints, contacts, ratios of them, mean gains) are suppressed for the roles that may not see them
(`SUPPRESSED_ROLES`: partner and viewer tokens): a suppressed cell keeps its period, split, baseline and target,
but loses its value, numerator, denominator, achievement and `n` (0), and says `status: suppressed` and
`suppressed: true`, with no bound (a cell hidden to protect another may be large). Every aggregated response
goes through one function, `Suppression` (or `published_cells`, which reads the cells and applies it), so the
API, the tracking table and the reports hide the same cells; figures computed from stored cells (a report's to
date) go through `Suppression.derived` and are shown only when every cell they add up may be shown.

Restricted roles read groupings of at most one dimension besides partner (`served_grouping`): the total, one
split, a partner's total and one split of it. Pairs and the full cross-classification link so many relations
that no rule applied one relation at a time protects them (an audit by linear programming found cells pinned
exactly), so they are for staff only; the mask is computed over the served groupings alone.

Primary suppression: a cell counting fewer than the threshold people (a ratio: either side), zero excepted.

Secondary (complementary) suppression, so that no hidden cell can be recomputed by subtraction from cells the
same role can fetch. The stored cells of an indicator satisfy these additive relations ("equations"):

* dimensions: for every stored grouping G and every stored grouping H ⊊ G (not only G∖{d}: the full
  cross-classification's parents G∖{d} are not stored, but the pairs and singles are), the cells of G that
  agree with a cell h of H on H's dimensions partition h, in every period (LOP included);
* time, for `unique_people` and `sum`: the quarter cells of one split partition its LOP cell;
* time, for `cumulative` and `latest`: the LOP cell of a split equals its last quarter cell;
* time, for `cumulative`: two visible quarters of a split differ by the people first reached between them.

Ratios take part with their numerator and denominator, each a count (one cell hides both). The rule, applied
to all these relations of the indicator together (every grouping, every period, whatever the request asked;
the response is then cut to what was asked), repeated until nothing changes:

1. a visible parent with exactly one hidden child, or with hidden children adding up to less than the
   threshold (they would bound each other within less than it): hide another child, the smallest of at least
   the threshold first, else the largest smaller one, zeros last (a hidden zero protects nothing); ties by
   period then split, so the choice is deterministic; with no other child, hide the parent;
2. a hidden parent with no hidden child (it is the sum of what is shown): hide a child, chosen the same way;
3. cumulative: two visible quarters of a split (LOP last) that differ by a small count, or that have hidden
   quarters between them and differ by less than the threshold (running totals never decrease, so the hidden
   ones are squeezed between them): hide the later one.

These rules look at one relation at a time, and relations taken together (partner × dimension × quarter) or
running across indicators (R1.3-5's denominator is R1.3-1's quarters added up, RT.1-2's is RT.1-1's) pinned
cells they left open. So the masks of the indicators that count people on one form are made together
(`family_masks`), repeated with the rules above until nothing changes:

4. a split (any grouping but the total) with a hidden cell is hidden whole, every period and LOP; a cell
   that is the only part of a visible coarser cell stays shown (it is that cell's copy);
5. where one indicator's running total equals another's quarters added up (found on the stored cells), a
   hidden flow quarter hides the running total from that quarter on, a hidden running total hides a flow
   quarter at or before it, and one at or after the flow's last quarter hides the flow's LOP.

This over-hides (a small total quarter hides every split of the indicator), on purpose: protection first. The
masks are one per form and threshold, computed from all the served cells, so every role, request and report
sees the same cells hidden.

Limits:

* The rules are a sufficient recipe checked by `tests/audit`, which bounds by linear programming every hidden
  cell from everything a partner or viewer token can obtain (a hand-built adversarial world and the demo data
  pass); they are not a proof for every possible data set, which only an audit-driven suppression (τ-Argus)
  or perturbation would give.
* The sum of the hidden cells of a relation is public, so with small complements a reader learns bounds
  (two hidden cells adding up to 9), not values.
* Distinct people are not exactly additive across splits (a person met in two regions is in both), nor over
  quarters for `sum`; they are treated as additive, which suppresses more, and subtraction gives bounds.
* Cells a caller computes itself get primary suppression only from `Suppression.__call__`; use `derived`.
* Links between indicators are looked for between a running total and a flow of the same form only.
"""

import threading
from collections import OrderedDict, defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any, Protocol

from sqlalchemy import func
from sqlmodel import Session, col, select

from analysis.tables import IndicatorValue
from analysis.targets import assess
from catalogue.model import LIFE_OF_PROGRAMME, Aggregation, FormSpec, Indicator, TimeAggregation
from catalogue.periods import quarters_between
from catalogue.store import NoCatalogue, stored_catalogue

PARTNER_DIMENSION = "partner"
"""The dimension whose values are partner organisations; partner tokens carry one of its codes."""

SUPPRESSED_ROLES = frozenset({"partner", "viewer"})
"""The roles that never see a small count of people, nor a cell that could be recomputed from what they see."""

PERSON_DIMENSIONS = frozenset({"sex", "age_band"})
"""Dimensions that describe a person: an indicator split by one of them counts people or records about people
(contacts, complaints, test scores), whatever its aggregation."""

MAX_SPLIT_DIMENSIONS = 1
"""Partner and viewer tokens split by at most this many dimensions besides `partner` (see the module docstring)."""


class ValuesProblem(ValueError):
    """A request for values the store cannot answer as asked; the message says what to ask instead."""


@dataclass(frozen=True)
class CellValue:
    period: str
    dims: dict[str, str]
    value: float | None
    numerator: float | None
    denominator: float | None
    n: int
    baseline: float | None
    target: float | None
    achievement: float | None
    status: str
    suppressed: bool = False


def counts_people(indicator: Indicator) -> bool:
    """Whether the indicator's cells rest on people or person-level records: distinct people (directly, or in a
    ratio's numerator or denominator), or any measure split by a dimension describing a person (a count of
    complaints or contacts by sex, a ratio of complaints, a mean gain of the people tested)."""
    measure = indicator.measure
    terms = [t.aggregation for t in (measure.numerator, measure.denominator) if t is not None]
    return (
        indicator.time_aggregation is TimeAggregation.unique_people
        or measure.aggregation is Aggregation.distinct_people
        or "distinct_people" in terms
        or any(dim in PERSON_DIMENSIONS for dim in indicator.disaggregations)
    )


def partner_owned(indicator: Indicator, forms: Iterable[FormSpec]) -> bool:
    """Whether a partner may read the indicator's partner split: its form names the organisation that filled it
    (`organisation`). A form without one (the feedback register) records what concerns a partner, which that
    partner must not see (a complaint about itself)."""
    form = next((f for f in forms if f.id == indicator.measure.form), None)
    return form is not None and form.organisation is not None


def served_grouping(dims: Iterable[str]) -> bool:
    """Whether partner and viewer tokens may read this grouping: at most `MAX_SPLIT_DIMENSIONS` besides partner."""
    return len({dim for dim in dims if dim != PARTNER_DIMENSION}) <= MAX_SPLIT_DIMENSIONS


def periods_between(first: str, last: str, *, lop: bool) -> list[str]:
    """The quarters from first to last, then LOP if asked; refuses a range that runs backwards."""
    if first > last:
        raise ValuesProblem(f"from={first} is after to={last}")
    return [*quarters_between(first, last), *([LIFE_OF_PROGRAMME] if lop else [])]


def cell_values(
    session: Session,
    indicator: Indicator,
    *,
    periods: Sequence[str],
    by: Sequence[str] = (),
    where: dict[str, str] | None = None,
) -> list[CellValue]:
    """The stored cells of one grouping (`by`), optionally restricted to some dimension values (`where`).

    No suppression: responses to partner and viewer tokens use `published_cells` (or `Suppression`)."""
    unknown = [dim for dim in by if dim not in indicator.disaggregations]
    if unknown:
        raise ValuesProblem(
            f"indicator '{indicator.code}' is not disaggregated by {', '.join(unknown)}; "
            f"it is by {', '.join(indicator.disaggregations) or 'nothing'}"
        )
    grouping = ",".join(sorted(set(by)))
    query = select(IndicatorValue).where(
        IndicatorValue.indicator == indicator.code,
        IndicatorValue.grouping == grouping,
        col(IndicatorValue.period).in_(list(periods)),
    )
    rows = list(session.exec(query))
    if not rows and by and _has_values(session, indicator.code) and not _has_values(session, indicator.code, grouping):
        raise ValuesProblem(f"values of '{indicator.code}' are not kept by {grouping}; ask for fewer dimensions")
    order = {period: index for index, period in enumerate(periods)}
    wanted = where or {}
    cells = []
    for row in sorted(rows, key=lambda r: (order[r.period], r.dims_key)):
        if any(row.dims.get(dim) != value for dim, value in wanted.items()):
            continue
        assessment = assess(indicator, row.period, row.value, row.dims)
        cells.append(
            CellValue(
                period=row.period,
                dims=dict(row.dims),
                value=row.value,
                numerator=row.numerator,
                denominator=row.denominator,
                n=row.n,
                baseline=assessment.baseline,
                target=assessment.target,
                achievement=assessment.achievement,
                status=assessment.status.value,
            )
        )
    return cells


def _has_values(session: Session, code: str, grouping: str | None = None) -> bool:
    query = select(IndicatorValue.id).where(IndicatorValue.indicator == code)
    if grouping is not None:
        query = query.where(IndicatorValue.grouping == grouping)
    return session.exec(query.limit(1)).first() is not None


# --- suppression ----------------------------------------------------------------------------------------------

CellKey = tuple[str, tuple[tuple[str, str], ...]]
"""A cell of an indicator: its period and its split as sorted (dimension, value) pairs (`()` for the total)."""


class Counted(Protocol):
    """What suppression reads of a cell: stored rows (`IndicatorValue`) and `CellValue` both qualify."""

    @property
    def period(self) -> str: ...
    @property
    def dims(self) -> Mapping[str, str]: ...
    @property
    def value(self) -> float | None: ...
    @property
    def numerator(self) -> float | None: ...
    @property
    def denominator(self) -> float | None: ...


def cell_key(period: str, dims: Mapping[str, str]) -> CellKey:
    return period, tuple(sorted(dims.items()))


def _counts(cell: Counted) -> tuple[float, ...]:
    """The counts a cell publishes: numerator and denominator of a ratio, else its value."""
    sides = tuple(v for v in (cell.numerator, cell.denominator) if v is not None)
    if sides:
        return sides
    return () if cell.value is None else (cell.value,)


def _small(counts: Iterable[float], threshold: int) -> bool:
    return any(0 < v < threshold for v in counts)


def is_small(cell: Counted, threshold: int) -> bool:
    """Primary suppression: the cell counts fewer than `threshold` people (a ratio: on either side), not zero."""
    return _small(_counts(cell), threshold)


Relation = tuple[CellKey, tuple[CellKey, ...]]
"""A parent and the cells that add up to it (or, with one child, equal it)."""


def _relations(keys: Iterable[CellKey], time_aggregation: TimeAggregation) -> list[Relation]:
    """The additive relations between stored cells (see the module docstring), in a deterministic order."""
    by_grouping: dict[tuple[str, ...], list[CellKey]] = defaultdict(list)
    for key in sorted(keys):
        by_grouping[tuple(dim for dim, _ in key[1])].append(key)
    relations: list[Relation] = []
    for grouping, cells in by_grouping.items():
        for parent_grouping, parents in by_grouping.items():
            if not set(parent_grouping) < set(grouping):
                continue
            partitions: dict[CellKey, list[CellKey]] = defaultdict(list)
            for period, split in cells:
                partitions[(period, tuple(p for p in split if p[0] in parent_grouping))].append((period, split))
            relations.extend((parent, tuple(partitions[parent])) for parent in parents if partitions.get(parent))
        quarters: dict[tuple[tuple[str, str], ...], list[CellKey]] = defaultdict(list)
        for period, split in cells:
            if period != LIFE_OF_PROGRAMME:
                quarters[split].append((period, split))
        for period, split in cells:
            if period != LIFE_OF_PROGRAMME or not quarters.get(split):
                continue
            if time_aggregation in (TimeAggregation.unique_people, TimeAggregation.sum):
                relations.append(((period, split), tuple(quarters[split])))
            else:  # cumulative and latest: LOP is the last quarter's value
                relations.append(((period, split), (max(quarters[split]),)))
    return relations


def _running_series(keys: Iterable[CellKey]) -> list[list[CellKey]]:
    """Per split, its quarters in order then LOP: the cells of a cumulative indicator that run to date."""
    series: dict[tuple[tuple[str, str], ...], list[CellKey]] = defaultdict(list)
    for key in sorted(keys, key=lambda k: (k[1], k[0] == LIFE_OF_PROGRAMME, k[0])):
        series[key[1]].append(key)
    return list(series.values())


def complementary_suppression(
    cells: Iterable[Counted],
    threshold: int,
    *,
    time_aggregation: TimeAggregation,
    seed: Iterable[CellKey] = (),
) -> frozenset[CellKey]:
    """The cells to hide among all the stored cells of one indicator: primary and secondary suppression.

    `cells` must be every stored cell of the indicator (all groupings, all periods): the rule is applied to all
    the relations between them at once, so the result does not depend on what a request asks. `seed`: cells
    hidden for reasons outside these relations (`family_masks`), whose complements are then chosen the same way."""
    table: dict[CellKey, tuple[float, ...]] = {cell_key(c.period, c.dims): _counts(c) for c in cells}
    if threshold <= 0:
        return frozenset()
    primary = {key for key, counts in table.items() if _small(counts, threshold)}
    hidden = primary | {key for key in seed if key in table}
    relations = _relations(table, time_aggregation)
    series = _running_series(table) if time_aggregation is TimeAggregation.cumulative else []
    # A worklist: every relation and series is checked once, then again whenever one of its cells is hidden.
    touching: dict[CellKey, list[int]] = defaultdict(list)
    for index, (parent, children) in enumerate(relations):
        for key in (parent, *children):
            touching[key].append(index)
    for index, run in enumerate(series, start=len(relations)):
        for key in run:
            touching[key].append(index)
    queue = deque(range(len(relations) + len(series)))
    waiting = set(queue)

    def order(key: CellKey) -> tuple[bool, float, CellKey]:
        positive = [v for v in table[key] if v > 0]
        size = min(positive) if positive else 0.0
        return size == 0, size, key

    def protective(key: CellKey) -> tuple[int, float, CellKey]:
        """Complements that widen the hidden cells' range most cheaply: the smallest child of at least the
        threshold first, then the largest smaller one, zeros last (a hidden zero protects nothing)."""
        positive = [v for v in table[key] if v > 0]
        size = min(positive) if positive else 0.0
        if size >= threshold:
            return 0, size, key
        return (1, -size, key) if size > 0 else (2, 0.0, key)

    def short(keys: list[CellKey]) -> bool:
        """The hidden cells of a relation add up to less than the threshold on some side: together with the
        visible ones they would bound each other within less than the threshold."""
        sides = zip(*(table[key] for key in keys), strict=False)
        return any(sum(side) < threshold for side in sides)

    def check_relation(parent: CellKey, children: tuple[CellKey, ...]) -> CellKey | None:
        shut = [child for child in children if child in hidden]
        if shut and parent not in hidden and (len(shut) == 1 or short(shut)):
            rest = [child for child in children if child not in hidden]
            if rest:
                return min(rest, key=protective)
            return parent
        if not shut and parent in hidden:
            return min(children, key=protective)
        return None

    def check_series(run: list[CellKey]) -> CellKey | None:
        """Cumulative cells never decrease, so a hidden run lies between its visible neighbours: they must be
        at least the threshold apart, and two visible neighbours must not differ by a small count."""
        shown = [index for index, key in enumerate(run) if key not in hidden]
        for before, after in pairwise(shown):
            a, b = table[run[before]], table[run[after]]
            if len(a) != len(b):
                continue
            steps = [y - x for x, y in zip(a, b, strict=True)]
            if _small(steps, threshold) or (after - before > 1 and any(step < threshold for step in steps)):
                return run[after]
        return None

    while queue:
        index = queue.popleft()
        waiting.discard(index)
        if index < len(relations):
            found = check_relation(*relations[index])
        else:
            found = check_series(series[index - len(relations)])
        if found is None:
            continue
        hidden.add(found)
        for other in (index, *touching[found]):
            if other not in waiting:
                waiting.add(other)
                queue.append(other)
    return frozenset(hidden)


FLOWS = frozenset({TimeAggregation.sum, TimeAggregation.unique_people})
"""Time aggregations whose quarters add up: another indicator's running total may be their quarters summed."""

Link = tuple[str, tuple[tuple[str, str], ...], str, tuple[tuple[str, str], ...]]
"""(running indicator, its split, flow indicator, its split): the running cells are the flow's quarters summed."""


def _grouping(key: CellKey) -> tuple[str, ...]:
    return tuple(dim for dim, _ in key[1])


def _series(table: Mapping[CellKey, tuple[float, ...]]) -> dict[tuple[tuple[str, str], ...], list[str]]:
    """Per split, its quarters in order (LOP left out)."""
    out: dict[tuple[tuple[str, str], ...], list[str]] = defaultdict(list)
    for period, split in sorted(table):
        if period != LIFE_OF_PROGRAMME:
            out[split].append(period)
    return out


def _links(
    tables: Mapping[str, Mapping[CellKey, tuple[float, ...]]], indicators: Mapping[str, Indicator]
) -> list[Link]:
    """The running series of one indicator that equal another's quarters added up, found on the stored cells as a
    reader would find them from the definitions (R1.3-5's denominator is R1.3-1 to date; RT.1-2's rests on
    RT.1-1): the same split, or the same split with one more dimension the running indicator does not have."""
    links: list[Link] = []
    for running, indicator in indicators.items():
        if indicator.time_aggregation is not TimeAggregation.cumulative:
            continue
        runs = _series(tables[running])
        for flow, other in indicators.items():
            if other.time_aggregation not in FLOWS or flow == running:
                continue
            flow_table = tables[flow]
            flows = _series(flow_table)
            extras = {pair for split in flows for pair in split if pair[0] not in indicator.disaggregations}
            for split, quarters in runs.items():
                candidates = [split, *(tuple(sorted((*split, extra))) for extra in sorted(extras))]
                for target in candidates:
                    if target not in flows:
                        continue
                    totals = []
                    for quarter in quarters:
                        sums = [flow_table[(q, target)] for q in flows[target] if q <= quarter]
                        totals.append(sum(counts[0] for counts in sums if counts))
                    for side in range(len(tables[running][(quarters[0], split)])):
                        shown = [tables[running][(q, split)][side] for q in quarters]
                        if any(shown) and all(abs(a - b) < 1e-9 for a, b in zip(shown, totals, strict=True)):
                            links.append((running, split, flow, target))
                            break
    return links


def family_masks(
    cells: Mapping[str, Iterable[Counted]], indicators: Mapping[str, Indicator], threshold: int
) -> dict[str, frozenset[CellKey]]:
    """The hidden cells of indicators read together (those of one form), each an indicator's served cells.

    On top of each indicator's own rule (`complementary_suppression`), repeated until nothing changes:

    * whole groupings: a split (any grouping but the total) with one hidden cell is hidden whole, every period
      and LOP. Relations taken together (partner × dimension × quarter, LOP = Σ quarters) pin cells that no
      rule applied one relation at a time protects; a grouping hidden whole is bound only by its visible parent
      cells, and each of those is at least the threshold (else hidden) and split between at least two hidden
      cells (else the parent is hidden: rule 1). A cell that is the only part of a visible coarser cell (a
      partner working in one region) stays shown: it is that cell's copy and tells nothing more;
    * linked indicators: where a running total of one indicator equals another's quarters added up (`_links`),
      a hidden quarter of the flow hides the running total from that quarter on (LOP included), and a hidden
      running total with no hidden flow quarter at or before it hides the flow's quarter (then its complements),
      and one at or after the flow's last quarter hides the flow's LOP (which it equals), so that neither gives
      the other's hidden cells back by subtraction.
    """
    tables = {code: {cell_key(c.period, c.dims): _counts(c) for c in rows} for code, rows in cells.items()}
    if threshold <= 0:
        return {code: frozenset() for code in tables}
    links = _links(tables, indicators)
    copies: dict[str, dict[CellKey, list[CellKey]]] = {}
    for code, table in tables.items():
        copies[code] = defaultdict(list)
        for parent, children in _relations(table, indicators[code].time_aggregation):
            if len(children) == 1 and _grouping(children[0]) != _grouping(parent):
                copies[code][children[0]].append(parent)
    seeds: dict[str, set[CellKey]] = {code: set() for code in tables}
    while True:
        masks = {
            code: complementary_suppression(
                [_Cell(k[0], dict(k[1]), v) for k, v in table.items()],
                threshold,
                time_aggregation=indicators[code].time_aggregation,
                seed=seeds[code],
            )
            for code, table in tables.items()
        }
        grown = {code: set(mask) for code, mask in masks.items()}
        for code, mask in masks.items():
            whole = {_grouping(key) for key in mask if key[1]}
            grown[code] |= {
                key
                for key in tables[code]
                if key[1] and _grouping(key) in whole and all(parent in mask for parent in copies[code].get(key, ()))
            }
        for running, split, flow, target in links:
            flow_hidden = sorted(q for q, t in grown[flow] if t == target and q != LIFE_OF_PROGRAMME)
            if flow_hidden:
                grown[running] |= {(q, t) for q, t in tables[running] if t == split and q >= flow_hidden[0]}
            flow_quarters = sorted(q for q, t in tables[flow] if t == target and q != LIFE_OF_PROGRAMME)
            for period, _split in [key for key in grown[running] if key[1] == split]:
                before = [q for q in flow_quarters if q <= period]
                if before and not any(q <= period for q in flow_hidden):
                    grown[flow].add((before[-1], target))
                if flow_quarters and period >= flow_quarters[-1] and (LIFE_OF_PROGRAMME, target) in tables[flow]:
                    grown[flow].add((LIFE_OF_PROGRAMME, target))  # the running total to date is the flow's LOP
        if all(grown[code] == set(masks[code]) for code in masks):
            return masks
        seeds = grown


@dataclass(frozen=True)
class _Cell:
    """A stored cell as `complementary_suppression` reads it, rebuilt from its key and counts."""

    period: str
    dims: Mapping[str, str]
    counts: tuple[float, ...]

    @property
    def value(self) -> float | None:
        return self.counts[0] if len(self.counts) == 1 else None

    @property
    def numerator(self) -> float | None:
        return self.counts[0] if len(self.counts) == 2 else None

    @property
    def denominator(self) -> float | None:
        return self.counts[1] if len(self.counts) == 2 else None


def _hidden(cell: CellValue) -> CellValue:
    return replace(
        cell,
        value=None,
        numerator=None,
        denominator=None,
        n=0,
        achievement=None,
        status="suppressed",
        suppressed=True,
    )


class _MaskCache:
    """The masks this process computed last, so that a viewer's request does not redo a whole form's audit
    (seconds for R1.3-1 at a million submissions).

    A mask is a function of the stored cells of the indicators read together (`family_masks`) and the threshold,
    so an entry is keyed by database, indicators, time aggregations and threshold, and checked on every use
    against the cells' count and latest `computed_at` (every inserted or updated cell gets its run's time): a
    mask is never older than the values it hides, and a second replica simply computes its own (no state it
    would miss).
    """

    SIZE = 64

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[str, ...], tuple[tuple[Any, ...], dict[str, frozenset[CellKey]]]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def get(self, session: Session, family: Sequence[Indicator], threshold: int) -> dict[str, frozenset[CellKey]]:
        bind = session.get_bind()
        codes = [indicator.code for indicator in family]
        key = (
            str(bind.url),
            *(f"{i.code}:{i.time_aggregation.value}:{','.join(i.disaggregations)}" for i in family),
            str(threshold),
        )
        of_family = col(IndicatorValue.indicator).in_(codes)
        marker = tuple(session.exec(select(func.count(), func.max(IndicatorValue.computed_at)).where(of_family)).one())
        with self._lock:
            found = self._entries.get(key)
            if found is not None and found[0] == marker:
                self._entries.move_to_end(key)
                return found[1]
        query = select(
            IndicatorValue.indicator,
            IndicatorValue.period,
            IndicatorValue.dims,
            IndicatorValue.value,
            IndicatorValue.numerator,
            IndicatorValue.denominator,
        ).where(of_family)
        served: dict[str, list[Any]] = {code: [] for code in codes}
        for row in session.exec(query):
            if served_grouping(row.dims):
                served[row.indicator].append(row)
        masks = family_masks(served, {i.code: i for i in family}, threshold)
        with self._lock:
            self._entries[key] = (marker, masks)
            self._entries.move_to_end(key)
            while len(self._entries) > self.SIZE:
                self._entries.popitem(last=False)
        return masks


_MASKS = _MaskCache()


class Suppression:
    """Primary and secondary suppression of the cells of a response, for partner and viewer tokens.

    One object per request (or report): each indicator's mask is computed once from all its stored cells. Call
    it with an indicator and cells read by `cell_values` (or the tracking table); cells that are not stored (a
    caller's own sums) get primary suppression only."""

    def __init__(self, session: Session, threshold: int) -> None:
        self.session = session
        self.threshold = threshold
        self._masks: dict[str, frozenset[CellKey]] = {}
        self._catalogue: list[Indicator] | None = None

    def family(self, indicator: Indicator) -> list[Indicator]:
        """The indicators whose masks are made together with this one: those counting people on its form (one may
        be another's running total), read from the stored catalogue (just the indicator when none is loaded)."""
        if self._catalogue is None:
            try:
                self._catalogue = list(stored_catalogue(self.session).indicators)
            except NoCatalogue:
                self._catalogue = []
        others = [
            i
            for i in self._catalogue
            if i.code != indicator.code and i.measure.form == indicator.measure.form and counts_people(i)
        ]
        return sorted([indicator, *others], key=lambda i: i.code)

    def mask(self, indicator: Indicator) -> frozenset[CellKey]:
        """The hidden cells of the indicator, all groupings and periods (empty when it counts no people)."""
        if not counts_people(indicator) or self.threshold <= 0:
            return frozenset()
        if indicator.code not in self._masks:
            masks = _MASKS.get(self.session, self.family(indicator), self.threshold)
            self._masks[indicator.code] = masks[indicator.code]
        return self._masks[indicator.code]

    def __call__(self, indicator: Indicator, cells: Sequence[CellValue]) -> list[CellValue]:
        if not counts_people(indicator) or self.threshold <= 0:
            return list(cells)
        mask = self.mask(indicator)
        return [
            _hidden(cell)
            if cell_key(cell.period, cell.dims) in mask
            or is_small(cell, self.threshold)
            or not served_grouping(cell.dims)
            else cell
            for cell in cells
        ]

    def derived(self, indicator: Indicator, cell: CellValue, sources: Iterable[CellKey]) -> CellValue:
        """A figure computed from stored cells (a report's to date): shown only when every cell it is made of
        could be shown, so that it tells nothing the visible cells do not (to date minus the quarter is the
        previous to date; this quarter's to date minus the last report's is this quarter)."""
        if not counts_people(indicator) or self.threshold <= 0:
            return cell
        mask = self.mask(indicator)
        if is_small(cell, self.threshold) or any(key in mask or not served_grouping(dict(key[1])) for key in sources):
            return _hidden(cell)
        return cell


def published_cells(
    session: Session,
    indicator: Indicator,
    *,
    periods: Sequence[str],
    by: Sequence[str] = (),
    where: dict[str, str] | None = None,
    role: str,
    threshold: int,
) -> list[CellValue]:
    """The cells of one grouping as a role may see them: `cell_values`, suppressed for `SUPPRESSED_ROLES`."""
    if role in SUPPRESSED_ROLES and threshold > 0 and counts_people(indicator) and not served_grouping(by):
        raise ValuesProblem(
            f"'{indicator.code}' counts people: partner and viewer tokens split it by at most "
            f"{MAX_SPLIT_DIMENSIONS} dimension besides {PARTNER_DIMENSION} at a time"
        )
    cells = cell_values(session, indicator, periods=periods, by=by, where=where)
    if role not in SUPPRESSED_ROLES:
        return cells
    return Suppression(session, threshold)(indicator, cells)


def suppress_small_counts(
    indicator: Indicator, cells: Sequence[CellValue], threshold: int, *, session: Session | None = None
) -> list[CellValue]:
    """Hide small counts of people; with `session`, primary and secondary suppression (`Suppression`).

    Without a session only cells counting fewer than `threshold` people lose their figures (a ratio: if either
    side is small), which a reader may undo by subtraction: responses must pass the session."""
    if session is not None:
        return Suppression(session, threshold)(indicator, cells)
    if not counts_people(indicator) or threshold <= 0:
        return list(cells)
    return [_hidden(cell) if is_small(cell, threshold) else cell for cell in cells]
