"""Computing indicator values: full, or incremental from what changed since the last run.

`compute(session, catalogue)` refreshes the facts of submissions changed after the watermark and changes only
the cells their old and new input rows touch, by what those rows add or remove (`analysis.aggregate`): the
cost follows the change (its rows, the rows of the people it concerns, the cells it lies in), not the number
of submissions. `compute(..., full=True)` rebuilds every fact and every value; it must give the same numbers,
which a property test checks. A run whose catalogue, engine version or person-key secret differs from the
previous run's is full whatever was asked, since every fact may have changed.

The watermark is the run's start time minus `overlap`: a sync transaction that stamped `changed_at` before our
start but committed after it is read again next time (re-reading is harmless: an unchanged submission touches
no cell).

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
from analysis.engine import Engine
from analysis.identity import resolve_secret, secret_fingerprint
from analysis.measures import IndicatorPlan, grouping_name, groupings
from analysis.queries import Fetcher, last_quarter, unit_rows
from analysis.refresh import rebuild_all, refresh_changed
from analysis.tables import ComputeState
from catalogue.model import Catalogue, TimeAggregation
from catalogue.tables import utcnow

log = logging.getLogger("sera.analysis")

DEFAULT_OVERLAP = dt.timedelta(minutes=5)
RECOMPUTE_SHARE = 0.05
RECOMPUTE_FLOOR = 1_000
"""An indicator whose changed input rows in one run pass both RECOMPUTE_FLOOR and RECOMPUTE_SHARE of its rows is
recomputed from all its rows instead: a change that large (a first sync into a store computed while empty, a mass
edit) costs less as one pass of the aggregate queries (some 15 µs a row) than row by row (some 300 µs a row)."""


@dataclass
class ComputeReport:
    """What a run did, for the CLI and the logs."""

    mode: str
    submissions: int = 0
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


def recompute_indicator(session: Session, engine: Engine, plan: IndicatorPlan) -> CellChanges:
    """Recompute and store every cell of one indicator from all its rows (a full run)."""
    changes = CellChanges()
    all_groupings = groupings(len(plan.dims))
    fetch = Fetcher(session, plan, all_groupings)
    cells = FullCells(fetch, engine.quarters, fetch.last_quarter())
    now = utcnow()
    for grouping in all_groupings:
        changes.add(write_cells(session, plan, grouping, cells.cells(grouping), now))
    return changes


def apply_change(session: Session, engine: Engine, plan: IndicatorPlan, change: Change) -> tuple[CellChanges, set[str]]:
    """Bring one indicator's stored cells in step with a change of its input rows; returns what was written and
    the periods touched. Reads only the rows of the units the change concerns and the cells it lies in."""
    all_groupings = groupings(len(plan.dims))
    aggregation = plan.indicator.time_aggregation
    now = utcnow()
    changes = CellChanges()
    last = None
    if aggregation is TimeAggregation.cumulative:
        last = last_quarter(session, plan)
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
    overlap: dt.timedelta = DEFAULT_OVERLAP,
    batch: int = 500,
) -> ComputeReport:
    """Bring facts and indicator values up to date with the submission store; see the module docstring.

    `person_key_secret` is SERA_PERSON_KEY_SECRET (read from the settings when None); when empty, a
    secret generated once and kept in the database is used, with a warning.
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
    is_full = full or state.fingerprint != fingerprint or state.watermark is None
    report = ComputeReport(mode="full" if is_full else "incremental")
    if is_full:
        report.submissions = rebuild_all(session, engine, secret, batch=batch)
        current = {
            code: {grouping_name(tuple(plan.dims[i] for i in g)) for g in groupings(len(plan.dims))}
            for code, plan in engine.indicators.items()
        }
        report.cells.deleted += drop_stale(session, current)
        for code, plan in engine.indicators.items():
            report.recomputed[code] = sorted(engine.all_periods())
            report.cells.add(recompute_indicator(session, engine, plan))
            log.debug("indicator computed", extra={"indicator": code})
    else:
        assert state.watermark is not None
        touched: dict[str, set[str]] = {}
        changed: dict[str, int] = {}
        limits: dict[str, float] = {}
        for page in refresh_changed(session, engine, secret, state.watermark, batch=batch):
            report.submissions += page.submissions
            for code, change in page.changes.items():
                if code not in limits:
                    limits[code] = max(RECOMPUTE_FLOOR, RECOMPUTE_SHARE * stored_rows(session, code))
                changed[code] = changed.get(code, 0) + len(change.removed) + len(change.added)
                if changed[code] > limits[code]:
                    continue  # recomputed whole below, once every page is in
                written, periods = apply_change(session, engine, engine.indicators[code], change)
                report.cells.add(written)
                touched.setdefault(code, set()).update(periods)
        for code in sorted(code for code, rows in changed.items() if rows > limits[code]):
            report.cells.add(recompute_indicator(session, engine, engine.indicators[code]))
            touched[code] = engine.all_periods()
        report.recomputed = {code: sorted(periods) for code, periods in touched.items() if periods}
    state.watermark = start_time - overlap
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
            "submissions": report.submissions,
            "cells_changed": report.cells_changed,
            "seconds": round(report.seconds, 3),
        },
    )
    return report
