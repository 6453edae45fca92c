"""Computing indicator values: full, or incremental from what changed since the last run.

`compute(session, catalogue)` refreshes the facts of the submissions written since the last run and changes only
the cells their old and new input rows touch, by what those rows add or remove (`analysis.aggregate`): the
cost follows the change (its rows, the rows of the people it concerns, the cells it lies in), not the number
of submissions. `compute(..., full=True)` rebuilds every fact and every value; it must give the same numbers,
which a property test checks. A run whose catalogue, engine version or person-key secret differs from the
previous run's is full whatever was asked, since every fact may have changed.

What was written since the last run is known exactly (`analysis.changes`): each run keeps the mark of the writes
it saw, and the next reads the others, once, however sync transactions overlap it; a submission stamped again
without new content is skipped before its facts are rebuilt.

Cumulative cells run from each cell's first quarter with data to the *horizon*: the current quarter (within the
programme) or the latest quarter any indicator has data in, whichever is later, so the ITT of a quarter shows
the running total to date even when the indicator had nothing new in it.

Memory stays flat as data grows: submissions are read in keyset pages of `batch` rows and their facts and
inputs written per page; a full run aggregates values in SQL (`analysis.queries`), one indicator at a time, and
an incremental one applies each page's changes before reading the next, so Python holds one page of
submissions or one indicator's cells, never all rows.

Nothing here commits: the caller owns the transaction, so readers see the old values or the new ones, never
half a run. On PostgreSQL the state row is locked, so two runs do not interleave.
"""

import datetime as dt
import logging
import time
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from analysis.aggregate import Change, FullCells, change_deltas, latest_deltas, unit_sides
from analysis.cells import (
    CellChanges,
    apply_deltas,
    drop_stale,
    move_last_quarter,
    read_cells,
    stored_last_quarter,
    stored_rows,
    write_cells,
)
from analysis.changes import Mark, current_mark
from analysis.engine import Engine
from analysis.identity import resolve_secret, secret_fingerprint
from analysis.measures import IndicatorPlan, grouping_name, groupings
from analysis.queries import Fetcher, last_quarter, unit_rows
from analysis.refresh import rebuild_all, refresh_changed
from analysis.tables import ComputeState
from catalogue.model import Catalogue, TimeAggregation
from catalogue.periods import quarter_of
from catalogue.tables import utcnow

log = logging.getLogger("sera.analysis")

RECOMPUTE_SHARE = 0.05
RECOMPUTE_FLOOR = 1_000
"""An indicator whose changed input rows in one run pass both RECOMPUTE_FLOOR and RECOMPUTE_SHARE of its rows is
recomputed from all its rows instead: a change that large (a first sync into a store computed while empty, a mass
edit) costs less as one pass of the aggregate queries (some 15 µs a row) than row by row (some 300 µs a row)."""


@dataclass
class ComputeReport:
    """What a run did, for the CLI and the logs."""

    mode: str
    stamped: int = 0
    """Submissions written since the last run (an incremental run's candidates)."""
    submissions: int = 0
    """Submissions whose JSON was read and whose facts were rebuilt (the stamped ones with new content)."""
    cells: CellChanges = field(default_factory=CellChanges)
    recomputed: dict[str, list[str]] = field(default_factory=dict)
    """Indicator → the periods whose cells were recomputed or changed by the run."""
    seconds: float = 0.0

    @property
    def cells_changed(self) -> int:
        return self.cells.total


def _state(session: Session) -> ComputeState:
    """The state row, created on first use and locked (PostgreSQL) for the rest of the transaction."""
    query = select(ComputeState).where(ComputeState.id == 1).with_for_update()
    state = session.exec(query).first()
    if state is None:
        try:
            with session.begin_nested():
                session.add(ComputeState(id=1))
        except IntegrityError:
            pass  # another run created it first
        state = session.exec(query).one()
    return state


def horizon(session: Session, engine: Engine, today: dt.date) -> str:
    """The quarter cumulative cells run to: the current one, kept within the programme, or the latest quarter
    with data of any indicator, whichever is later (a demo dated in the future, a phone with a wrong clock)."""
    first, last = engine.quarters[0], engine.quarters[-1]
    current = min(max(quarter_of(today), first), last)
    found = [q for plan in engine.indicators.values() if (q := last_quarter(session, plan)) is not None]
    return max([current, *found])


def recompute_indicator(session: Session, engine: Engine, plan: IndicatorPlan, until: str) -> CellChanges:
    """Recompute and store every cell of one indicator from all its rows (a full run); cumulative cells run
    `until` that quarter."""
    changes = CellChanges()
    all_groupings = groupings(len(plan.dims))
    fetch = Fetcher(session, plan, all_groupings)
    cells = FullCells(fetch, engine.quarters, until if fetch.last_quarter() is not None else None)
    now = utcnow()
    for grouping in all_groupings:
        changes.add(write_cells(session, plan, grouping, cells.cells(grouping), now))
    return changes


def extend_cumulative(
    session: Session, engine: Engine, plan: IndicatorPlan, until: str
) -> tuple[CellChanges, set[str]]:
    """Make a cumulative indicator's stored cells run to `until` (none when it has no data), carrying each
    cell's running total over to later quarters or dropping the quarters past it; returns what was written
    and the quarters that gained or lost cells."""
    last = until if last_quarter(session, plan) is not None else None
    before = stored_last_quarter(session, plan.code)
    moved = move_last_quarter(session, plan.code, engine.quarters, before, last, utcnow())
    low, high = sorted([before or "", last or ""])
    return moved, ({q for q in engine.quarters if low < q <= high} if moved.total else set())


def apply_change(
    session: Session, engine: Engine, plan: IndicatorPlan, change: Change, floor: str
) -> tuple[CellChanges, set[str]]:
    """Bring one indicator's stored cells in step with a change of its input rows; returns what was written and
    the periods touched. Reads only the rows of the units the change concerns and the cells it lies in.
    Cumulative cells run to `floor` or to the indicator's own last quarter with data if that is later."""
    all_groupings = groupings(len(plan.dims))
    aggregation = plan.indicator.time_aggregation
    now = utcnow()
    changes = CellChanges()
    last = None
    if aggregation is TimeAggregation.cumulative:
        own = last_quarter(session, plan)
        last = max(own, floor) if own is not None else None
        before = stored_last_quarter(session, plan.code)
        changes.add(move_last_quarter(session, plan.code, engine.quarters, before, last, now))
    units = {side: unit_rows(session, plan, side, change.units(side)) for side in unit_sides(plan)}
    deltas = change_deltas(plan, engine.quarters, all_groupings, change, units)
    cells = {(grouping, key) for grouping, key, _period in deltas}
    periods = {period for _grouping, _key, period in deltas}
    if aggregation is TimeAggregation.latest:
        reporters = change.finest_keys()
        cells |= {(all_groupings[-1], key) for key in reporters}
        periods |= engine.all_periods()
        stored = read_cells(session, plan, cells, periods)
        totals = {cell: found.totals for cell, found in stored.items()}
        deltas |= latest_deltas(all_groupings, engine.quarters, reporters, deltas, totals)
    else:
        stored = read_cells(session, plan, cells, periods)
    written, touched = apply_deltas(session, plan, deltas, stored, last, now)
    changes.add(written)
    return changes, touched


def compute(
    session: Session,
    catalogue: Catalogue,
    *,
    full: bool = False,
    person_key_secret: str | None = None,
    today: dt.date | None = None,
    batch: int = 500,
) -> ComputeReport:
    """Bring facts and indicator values up to date with the submission store; see the module docstring.

    `person_key_secret` is SERA_PERSON_KEY_SECRET (read from the settings when None); when empty, a
    secret generated once and kept in the database is used, with a warning. `today` (UTC today by default)
    places the current quarter, to which cumulative cells run.
    """
    started = time.perf_counter()
    start_time = utcnow()
    if person_key_secret is None:
        from sera.settings import get_settings

        person_key_secret = get_settings().person_key_secret.get_secret_value()
    engine = Engine.of(catalogue)
    secret = resolve_secret(session, person_key_secret)
    fingerprint = engine.fingerprint(secret_fingerprint(secret))
    state = _state(session)
    now = current_mark(session)
    before = Mark.parse(state.change_mark)
    day = today or start_time.date()
    is_full = full or state.fingerprint != fingerprint or before is None
    report = ComputeReport(mode="full" if is_full else "incremental")
    if is_full:
        report.submissions = report.stamped = rebuild_all(session, engine, secret, now, batch=batch)
        until = horizon(session, engine, day)
        current = {
            code: {grouping_name(tuple(plan.dims[i] for i in g)) for g in groupings(len(plan.dims))}
            for code, plan in engine.indicators.items()
        }
        report.cells.deleted += drop_stale(session, current)
        for code, plan in engine.indicators.items():
            report.recomputed[code] = sorted(engine.all_periods())
            report.cells.add(recompute_indicator(session, engine, plan, until))
            log.debug("indicator computed", extra={"indicator": code})
    else:
        assert before is not None
        touched: dict[str, set[str]] = {}
        changed: dict[str, int] = {}
        limits: dict[str, float] = {}
        floor = horizon(session, engine, day)
        for page in refresh_changed(session, engine, secret, before, now, batch=batch):
            report.stamped += page.stamped
            report.submissions += page.submissions
            for code, change in page.changes.items():
                if code not in limits:
                    limits[code] = max(RECOMPUTE_FLOOR, RECOMPUTE_SHARE * stored_rows(session, code))
                changed[code] = changed.get(code, 0) + len(change.removed) + len(change.added)
                if changed[code] > limits[code]:
                    continue  # recomputed whole below, once every page is in
                written, periods = apply_change(session, engine, engine.indicators[code], change, floor)
                report.cells.add(written)
                touched.setdefault(code, set()).update(periods)
        until = horizon(session, engine, day)
        for code in sorted(code for code, rows in changed.items() if rows > limits[code]):
            report.cells.add(recompute_indicator(session, engine, engine.indicators[code], until))
            touched[code] = engine.all_periods()
        for code, plan in engine.indicators.items():
            if plan.indicator.time_aggregation is TimeAggregation.cumulative:
                moved, quarters = extend_cumulative(session, engine, plan, until)
                report.cells.add(moved)
                touched.setdefault(code, set()).update(quarters)
        report.recomputed = {code: sorted(periods) for code, periods in touched.items() if periods}
    state.watermark = start_time
    state.change_mark = now.text()
    state.fingerprint = fingerprint
    state.last_run_at = start_time
    state.last_mode = report.mode
    state.last_cells_changed = report.cells_changed
    if is_full:
        state.last_full_at = start_time
    session.add(state)
    session.flush()
    report.seconds = time.perf_counter() - started
    log.info(
        "indicators computed",
        extra={
            "mode": report.mode,
            "stamped": report.stamped,
            "submissions": report.submissions,
            "cells_changed": report.cells_changed,
            "seconds": round(report.seconds, 3),
        },
    )
    return report
