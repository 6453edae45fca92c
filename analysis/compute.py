"""Computing indicator values: full, or incremental from what changed since the last run.

`compute(session, catalogue)` refreshes the facts of submissions changed after the watermark and recomputes
only the (indicator, period) cells their old and new rows touch, with the later quarters and LOP that depend
on them. `compute(..., full=True)` rebuilds every fact and every value; it must give the same numbers, which a
property test checks. A run whose catalogue, engine version or person-key secret differs from the previous
run's is full whatever was asked, since every fact may have changed.

The watermark is the run's start time minus `overlap`: a sync transaction that stamped `changed_at` before our
start but committed after it is read again next time (re-reading is harmless: an unchanged submission touches
no cell).

Memory stays flat as data grows: submissions are read in keyset pages of `batch` rows and their facts and
inputs written per page; values are aggregated in SQL (`analysis.queries`), one indicator at a time, so
Python holds one page of submissions or one indicator's cells, never all rows.

Nothing here commits: the caller owns the transaction, so readers see the old values or the new ones, never
half a run. On PostgreSQL the state row is locked, so two runs do not interleave.
"""

import datetime as dt
import logging
import time
from dataclasses import dataclass, field

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from analysis.aggregate import grouping_cells
from analysis.cells import CellChanges, drop_stale, write_cells
from analysis.engine import Engine
from analysis.identity import resolve_secret, secret_fingerprint
from analysis.measures import IndicatorPlan, grouping_name, groupings
from analysis.queries import Fetcher, last_quarter
from analysis.refresh import Touched, rebuild_all, refresh_changed
from analysis.tables import ComputeState, IndicatorValue
from catalogue.model import LIFE_OF_PROGRAMME, Catalogue, TimeAggregation
from catalogue.tables import utcnow

log = logging.getLogger("sera.analysis")

DEFAULT_OVERLAP = dt.timedelta(minutes=5)


@dataclass
class ComputeReport:
    """What a run did, for the CLI and the logs."""

    mode: str
    submissions: int = 0
    cells: CellChanges = field(default_factory=CellChanges)
    recomputed: dict[str, list[str]] = field(default_factory=dict)
    """Indicator → the periods recomputed."""
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


def recompute_indicator(session: Session, engine: Engine, plan: IndicatorPlan, periods: set[str]) -> CellChanges:
    """Recompute and store every grouping's cells of one indicator for these periods."""
    changes = CellChanges()
    all_groupings = groupings(len(plan.dims))
    fetch = Fetcher(session, plan, all_groupings)
    last = fetch.last_quarter()
    now = utcnow()
    for grouping in all_groupings:
        dimensions = tuple(plan.dims[i] for i in grouping)
        cells = grouping_cells(fetch, engine.quarters, periods, grouping, last)
        changes.add(write_cells(session, plan.code, dimensions, grouping_name(dimensions), periods, cells, now))
    return changes


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
        targets: dict[str, set[str]] = {code: engine.all_periods() for code in engine.indicators}
        current = {
            code: {grouping_name(tuple(plan.dims[i] for i in g)) for g in groupings(len(plan.dims))}
            for code, plan in engine.indicators.items()
        }
        report.cells.deleted += drop_stale(session, current)
    else:
        assert state.watermark is not None
        report.submissions, touched = refresh_changed(session, engine, secret, state.watermark, batch=batch)
        targets = _targets(session, engine, touched)
    for code, periods in targets.items():
        if not periods:
            continue
        report.recomputed[code] = sorted(periods)
        report.cells.add(recompute_indicator(session, engine, engine.indicators[code], periods))
        log.debug("indicator computed", extra={"indicator": code, "periods": len(periods)})
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


def _stored_last_quarter(session: Session, code: str) -> str | None:
    query = select(func.max(IndicatorValue.period)).where(
        col(IndicatorValue.indicator) == code, col(IndicatorValue.period) != LIFE_OF_PROGRAMME
    )
    return session.execute(query).scalar()


def _targets(session: Session, engine: Engine, touched: Touched) -> dict[str, set[str]]:
    """The periods each touched indicator must be recomputed for.

    Cumulative cells run from a cell's first quarter to the indicator's last quarter with data; when a change
    moves that last quarter (a first row in a later quarter, or the last ones deleted), the quarters after the
    earlier of the old and the new last one appear or disappear too.
    """
    targets: dict[str, set[str]] = {}
    for code, quarters in touched.items():
        plan = engine.indicators.get(code)
        if plan is None:
            continue
        widened = set(quarters)
        if plan.indicator.time_aggregation is TimeAggregation.cumulative:
            before, after = _stored_last_quarter(session, code), last_quarter(session, plan)
            if before and after and before != after:
                widened |= {q for q in engine.quarters if q > min(before, after)}
        targets[code] = engine.affected(code, widened)
    return targets
