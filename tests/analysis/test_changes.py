"""An incremental compute reads exactly the submissions written since the previous one: none twice, none missed.

Writes are stamped by the database (`sync.tables.ChangeStamp`) and each run keeps the mark of what it saw
(`analysis.changes`). The clock plays no part: the writes below are dated an hour back, as a long sync
transaction's `changed_at` would be when it commits, which a wall-clock watermark would skip.
"""

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

import analysis.compute
from analysis.changes import Mark
from catalogue.model import Catalogue
from catalogue.tables import utcnow
from sync.store import mark_seen
from tests.analysis.builders import Store, all_values, attend
from tests.analysis.conftest import run


@pytest.fixture
def past_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Stores date their writes an hour back (a transaction that began long before it committed)."""
    monkeypatch.setattr("sync.store.utcnow", lambda: utcnow() - dt.timedelta(hours=1))
    yield


def test_a_second_run_with_no_change_reads_no_submission(session: Session, catalogue: Catalogue, store: Store) -> None:
    attend(store, "Ana", "2026-02-01")
    attend(store, "Ben", "2026-05-01")
    first = run(session, catalogue)
    assert (first.mode, first.submissions) == ("full", 2)
    attend(store, "Chloé", "2026-05-02")
    second = run(session, catalogue)
    assert (second.mode, second.stamped, second.submissions) == ("incremental", 1, 1)
    again = run(session, catalogue)
    assert (again.stamped, again.submissions, again.cells_changed, again.recomputed) == (0, 0, 0, {})


def test_a_submission_stamped_again_without_new_content_is_not_rebuilt(
    session: Session, catalogue: Catalogue, store: Store
) -> None:
    """A reconciliation marks every row it saw: the next run looks at their hashes, not at their JSON."""
    roots = [attend(store, name, "2026-02-01") for name in ("Ana", "Ben", "Chloé")]
    run(session, catalogue)
    mark_seen(session, store.remote[("kobo", "attendance")], roots, mark=7)
    session.commit()
    again = run(session, catalogue)
    assert (again.stamped, again.submissions, again.cells_changed) == (3, 0, 0)
    assert run(session, catalogue).stamped == 0


def test_a_deleted_submission_is_read_once(session: Session, catalogue: Catalogue, store: Store) -> None:
    root = attend(store, "Ana", "2026-02-01")
    attend(store, "Ben", "2026-02-01")
    run(session, catalogue)
    store.delete("attendance", root)
    deleted = run(session, catalogue)
    assert (deleted.stamped, deleted.submissions) == (1, 1) and deleted.cells_changed > 0
    assert run(session, catalogue).stamped == 0


def test_a_write_committed_during_a_run_is_read_by_the_next(
    engine: Engine, session: Session, catalogue: Catalogue, store: Store, past_clock: None, monkeypatch: Any
) -> None:
    attend(store, "Ana", "2026-02-01")
    run(session, catalogue)
    other = Store.__new__(Store)
    other.__dict__.update(store.__dict__)
    original = analysis.compute.current_mark

    def mark_then_write(session_: Session) -> Mark:
        mark = original(session_)
        with Session(engine) as concurrent:  # another connection commits once the run has taken its mark
            other.session = concurrent
            attend(other, "Ben", "2026-05-01")
        return mark

    monkeypatch.setattr(analysis.compute, "current_mark", mark_then_write)
    during = run(session, catalogue)
    monkeypatch.undo()
    after = run(session, catalogue)
    assert (during.stamped, after.stamped, after.submissions) == (0, 1, 1)
    incremental = all_values(session)
    assert run(session, catalogue, full=True).cells_changed == 0
    assert all_values(session) == incremental
    assert run(session, catalogue).stamped == 0


def test_a_transaction_open_across_a_run_is_read_by_the_next(
    engine: Engine, session: Session, catalogue: Catalogue, store: Store, past_clock: None
) -> None:
    """PostgreSQL: a sync page that wrote before the run's snapshot and committed after it (SQLite's writers
    cannot overlap a run that writes: they wait for it)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers")
    attend(store, "Ana", "2026-02-01")
    run(session, catalogue)
    with Session(engine) as concurrent:
        other = Store.__new__(Store)
        other.__dict__.update(store.__dict__)
        other.session = concurrent
        concurrent.commit = concurrent.flush  # type: ignore[method-assign]  # keep the transaction open
        attend(other, "Ben", "2026-05-01")
        attend(store, "Chloé", "2026-05-02")  # committed after Ben's transaction began: Ben's is in progress
        while_open = run(session, catalogue)
        Session.commit(concurrent)
    after = run(session, catalogue)
    assert (while_open.stamped, after.stamped, after.submissions) == (1, 1, 1)
    incremental = all_values(session)
    assert run(session, catalogue, full=True).cells_changed == 0
    assert all_values(session) == incremental
    assert run(session, catalogue).stamped == 0
