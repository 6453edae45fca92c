"""ODK Central restores: `deletedAt` goes back to null and `updatedAt` does not move (contracts/odk-central.md §5.4).

On 2024.3+ (here 2026.2) the incremental run reads the server's deleted list (`__system/deletedAt ne null`) and
revives a tombstone the list no longer holds once the REST submission shows it live. On 2024.2 nothing in the API
shows a deletion or a restore to an incremental run; the reconciliation (daily, or `--full`) lists every live row
and catches both.
"""

import datetime as dt
import re

import pytest

from tests.worlds import OdkWorld, stored_rows

NOT_DUE = dt.timedelta(days=365)
"""An incremental run whose daily reconciliation is not due."""
ODD = "uuid:l'école [import] ٤٢"


def _old_rows_and_a_recent_one(world: OdkWorld, count: int) -> list[str]:
    """`count` rows, then one two hours later: the window's cursor is past the first ones, so an incremental run
    re-reads them only if something on the server says they changed."""
    rows = [row["__id"] for row in world.add(count)]
    rows.append(
        world.fake.add_submission(world.project, world.form_id, {"name": "Odd", "age": 30}, instance_id=ODD)["__id"]
    )
    world.fake.clock.advance(dt.timedelta(hours=2))
    world.add(1)
    return rows


def _deleted(world: OdkWorld) -> set[str]:
    return set(stored_rows(world.engine, include_deleted=True)) - set(stored_rows(world.engine))


@pytest.mark.parametrize("odk_world", ["2026.2"], indirect=True)
def test_a_restore_is_caught_by_the_incremental_run(odk_world: OdkWorld) -> None:
    fake, p, f = odk_world.fake, odk_world.project, odk_world.form_id
    rows = _old_rows_and_a_recent_one(odk_world, 8)
    assert odk_world.sync(full=True).status == "success"
    for root in (rows[0], rows[4], ODD):
        fake.delete_submission(p, f, root)
    run = odk_world.sync(reconcile_every=NOT_DUE)
    assert (run.status, run.rows_deleted) == ("success", 3), run.error

    fake.restore_submission(p, f, rows[0])
    fake.restore_submission(p, f, ODD)
    run = odk_world.sync(reconcile_every=NOT_DUE)
    assert (run.status, run.rows_changed, run.rows_deleted) == ("success", 2, 0), run.error
    assert _deleted(odk_world) == {rows[4]}
    odk_world.assert_store_equals_server()
    before = len(fake.requests)
    again = odk_world.sync(reconcile_every=NOT_DUE)
    assert (again.rows_new, again.rows_changed, again.rows_deleted) == (0, 0, 0)
    asked = [r.path for r in fake.requests[before:] if re.search(r"/submissions/[^/]+$", r.path)]
    assert asked == [], "a tombstone the deleted list still holds is not asked about"


@pytest.mark.parametrize("odk_world", ["2026.2"], indirect=True)
def test_a_purged_row_stays_a_tombstone(odk_world: OdkWorld) -> None:
    fake, p, f = odk_world.fake, odk_world.project, odk_world.form_id
    rows = _old_rows_and_a_recent_one(odk_world, 4)
    odk_world.sync(full=True)
    fake.delete_submission(p, f, rows[1])
    odk_world.sync(reconcile_every=NOT_DUE)
    fake.purge_submission(p, f, rows[1])  # gone from the deleted list too, but not restored
    run = odk_world.sync(reconcile_every=NOT_DUE)
    assert (run.status, run.rows_changed, run.rows_deleted) == ("success", 0, 0), run.error
    assert _deleted(odk_world) == {rows[1]}


@pytest.mark.parametrize("odk_world", ["2026.2"], indirect=True)
def test_a_restore_check_that_fails_revives_nothing_and_the_next_run_does(odk_world: OdkWorld) -> None:
    fake, p, f = odk_world.fake, odk_world.project, odk_world.form_id
    rows = _old_rows_and_a_recent_one(odk_world, 4)
    odk_world.sync(full=True)
    fake.delete_submission(p, f, rows[2])
    odk_world.sync(reconcile_every=NOT_DUE)
    fake.restore_submission(p, f, rows[2])
    fake.fail_next(1000, status=503, match=r"^GET /v1/projects/\d+/forms/[^/]+/submissions/")
    failed = odk_world.sync(reconcile_every=NOT_DUE)
    fake.clear_faults()
    assert failed.status == "failed"
    assert _deleted(odk_world) == {rows[2]}
    run = odk_world.sync(reconcile_every=NOT_DUE)
    assert (run.status, run.rows_changed) == ("success", 1), run.error
    odk_world.assert_store_equals_server()


@pytest.mark.parametrize("odk_world", ["2024.2"], indirect=True)
def test_on_2024_2_deletions_and_restores_wait_for_the_reconciliation(odk_world: OdkWorld) -> None:
    """What v2024.2 can do: nothing in an incremental run (no `deletedAt` filter, `?deleted=true` ignored); the
    reconciliation, which lists every live row, catches the deletion and then the restore."""
    fake, p, f = odk_world.fake, odk_world.project, odk_world.form_id
    rows = _old_rows_and_a_recent_one(odk_world, 4)
    odk_world.sync(full=True)
    fake.delete_submission(p, f, ODD)
    assert odk_world.sync(reconcile_every=NOT_DUE).rows_deleted == 0, "2024.2 shows no deletion to this run"
    assert odk_world.sync(reconcile_every=dt.timedelta(0)).rows_deleted == 1
    fake.restore_submission(p, f, ODD)
    assert odk_world.sync(reconcile_every=NOT_DUE).rows_changed == 0, "nor a restore"
    assert _deleted(odk_world) == {ODD}
    run = odk_world.sync(reconcile_every=dt.timedelta(0))
    assert (run.status, run.rows_changed) == ("success", 1), run.error
    assert _deleted(odk_world) == set()
    assert rows[0] in stored_rows(odk_world.engine)
    odk_world.assert_store_equals_server()
