"""Keeping indicator values in step with the submission store, and saying how fresh the figures served are.

Every way submissions arrive (`sera sync`, `sera sync --watch`, `POST /sync/runs`, the Kobo webhook) ends with
`refresh_after_sync`: when the runs changed rows, the incremental compute brings facts, values and findings up to
date at once, in its own transaction. The sync package never computes indicators; this is the one place that
joins the two. A compute that fails is logged and loses nothing: the next run picks up every change it missed
(changes are tracked by `analysis.changes`, not by time).

`as_of` says, for every figure the API serves, when the values were computed, from which sync run, and whether
submissions changed since (figures may then be behind the store until the next compute).
"""

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from analysis.changes import pending_changes
from analysis.compute import ComputeReport, compute
from analysis.tables import ComputeState
from catalogue.store import NoCatalogue, stored_catalogue
from sera.db import session_scope
from sera.settings import Settings
from sync.tables import SyncRun

log = logging.getLogger("sera.analysis")


@dataclass(frozen=True)
class AsOf:
    """How fresh the served figures are."""

    computed_at: dt.datetime | None
    """When the indicator values (and the facts findings are read from) were last brought up to date."""
    mode: str | None
    """`incremental` or `full`: how that compute ran."""
    sync_run: int | None
    """The latest sync run finished before that compute: its rows, and every earlier run's, are counted."""
    synced_at: dt.datetime | None
    """When that sync run finished."""
    pending: bool
    """Submissions changed since that compute (a sync or a webhook delivery still being computed)."""


def as_of(session: Session) -> AsOf:
    """How fresh the values are, read from the compute state and the sync runs (a few indexed queries)."""
    state = session.get(ComputeState, 1)
    if state is None or state.last_run_at is None:
        return AsOf(None, None, None, None, pending_changes(session, None))
    query = (
        select(SyncRun.id, SyncRun.finished_at)
        .where(col(SyncRun.finished_at).is_not(None), col(SyncRun.finished_at) <= state.last_run_at)
        .order_by(col(SyncRun.finished_at).desc(), col(SyncRun.id).desc())
        .limit(1)
    )
    run = session.execute(query).first()
    return AsOf(
        computed_at=state.last_run_at,
        mode=state.last_mode or None,
        sync_run=run[0] if run else None,
        synced_at=run[1] if run else None,
        pending=pending_changes(session, state.change_mark),
    )


def changed_rows(runs: Sequence[SyncRun]) -> bool:
    """Whether any of these runs stored, changed or deleted a submission."""
    return any(run.rows_new or run.rows_changed or run.rows_deleted for run in runs)


def refresh_after_sync(
    engine: Engine, settings: Settings, runs: Sequence[SyncRun] | None = None
) -> ComputeReport | None:
    """Recompute what the runs changed (`runs`; None when the caller does not have them, after a background
    sync or a webhook delivery: then whatever was written since the last compute).

    Returns the compute's report, or None when there was nothing to do (no row changed, no catalogue loaded) or
    the compute failed (logged; the next one catches up).
    """
    if runs is not None and not changed_rows(runs):
        return None
    try:
        with session_scope(engine) as session:
            state = session.get(ComputeState, 1)
            if runs is None and not pending_changes(session, state.change_mark if state else None):
                return None
            try:
                catalogue = stored_catalogue(session)
            except NoCatalogue:
                log.warning("submissions changed but no catalogue is loaded: values not computed")
                return None
            return compute(session, catalogue, person_key_secret=settings.person_key_secret.get_secret_value())
    except Exception:
        log.exception("indicator values were not recomputed after the sync; `sera indicators compute` retries")
        return None
