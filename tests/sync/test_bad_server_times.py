"""A server time that is no time (`_submission_time`, a validation status's `timestamp`, Central's
`submissionDate`, `updatedAt`, `deletedAt`) never stops a page: the submission is stored with the time column
empty and the text kept in its raw JSON, it is a data quality finding (`unstorable_value`), and the pull's
cursors move on the times that parse, so the next incremental run still reads what is new."""

import datetime as dt

import pytest
from sqlmodel import Session, select

from analysis.quality import quality_findings
from catalogue.model import Catalogue
from sync.normalize import BAD_TIME
from sync.tables import RemoteForm, Submission
from tests.worlds import KoboWorld, OdkWorld, add_people

NOT_DUE = dt.timedelta(days=365)
"""An incremental run whose daily reconciliation is not due."""


def _stored(world: KoboWorld | OdkWorld) -> dict[str, Submission]:
    with Session(world.engine) as session:
        return {row.remote_id: row for row in session.exec(select(Submission))}


def _flagged(world: KoboWorld | OdkWorld, catalogue: Catalogue) -> set[str]:
    """The submissions the `unstorable_value` check lists this quarter (their time column is empty: they count in
    the quarter SERA received them), each finding saying why."""
    now = dt.datetime.now(dt.UTC)
    with Session(world.engine) as session:
        found = quality_findings(session, catalogue, f"{now.year}Q{(now.month - 1) // 3 + 1}")
    flagged = [f for f in found if f.check == "unstorable_value"]
    assert all("date du serveur illisible" in f.message.fr for f in flagged)
    return {remote_id for f in flagged for remote_id in f.submissions}


def _cursor(world: KoboWorld | OdkWorld) -> dict:
    with Session(world.engine) as session:
        return dict(session.exec(select(RemoteForm)).one().cursor)


def test_kobo_bad_times_are_stored_found_and_do_not_move_the_cursor(
    kobo_world: KoboWorld, minimal_catalogue: Catalogue
) -> None:
    fake, asset = kobo_world.fake, kobo_world.asset
    [good, bad_time, bad_status] = add_people(fake, asset, 3)
    with fake.lock:
        records = fake.assets[asset].records
        records[bad_time["_id"]]["_submission_time"] = "not a time"  # sorts after every real time as text
        records[bad_status["_id"]]["_validation_status"] = {"uid": "validation_status_approved", "timestamp": "hier"}
    run = kobo_world.sync()
    assert (run.status, run.error, run.rows_new) == ("success", None, 3)
    stored = _stored(kobo_world)
    assert (stored[str(bad_time["_id"])].submitted_at, stored[str(bad_time["_id"])].unstorable) == (
        None,
        {"_submission_time": BAD_TIME},
    )
    assert stored[str(bad_time["_id"])].data == fake.assets[asset].records[bad_time["_id"]]
    assert stored[str(bad_status["_id"])].review_state == "validation_status_approved"
    assert _cursor(kobo_world)["hwm"] == good["_submission_time"]
    assert _flagged(kobo_world, minimal_catalogue) == {str(bad_time["_id"])}
    [late] = add_people(fake, asset, 1)
    again = kobo_world.sync(reconcile_every=NOT_DUE)
    assert (again.status, again.error, again.rows_new) == ("success", None, 1)
    assert str(late["_id"]) in _stored(kobo_world)
    kobo_world.assert_store_equals_server()


def test_kobo_a_bad_time_left_in_a_cursor_by_an_older_version_is_read_again(kobo_world: KoboWorld) -> None:
    """A cursor that holds no time (written before this check) means "read from the start", not a failed run."""
    add_people(kobo_world.fake, kobo_world.asset, 2)
    assert kobo_world.sync().rows_new == 2
    with Session(kobo_world.engine) as session:
        form = session.exec(select(RemoteForm)).one()
        form.cursor = {**form.cursor, "hwm": "not a time"}
        session.add(form)
        session.commit()
    add_people(kobo_world.fake, kobo_world.asset, 1)
    run = kobo_world.sync(reconcile_every=NOT_DUE)
    assert (run.status, run.error, run.rows_new) == ("success", None, 1)
    kobo_world.assert_store_equals_server()


@pytest.mark.parametrize("field", ["submissionDate", "updatedAt"])
def test_odk_bad_times_are_stored_found_and_do_not_move_the_cursor(
    odk_world: OdkWorld, minimal_catalogue: Catalogue, field: str
) -> None:
    fake = odk_world.fake
    [good, bad] = odk_world.add(2)
    fake.odd_system[bad["__id"]] = {field: "9999-99-99T99:99:99Z"}
    run = odk_world.sync()
    assert (run.status, run.error, run.rows_new) == ("success", None, 2)
    stored = _stored(odk_world)
    column = {"submissionDate": "submitted_at", "updatedAt": "updated_at"}[field]
    assert getattr(stored[bad["__id"]], column) is None
    assert stored[bad["__id"]].unstorable == {f"__system/{field}": BAD_TIME}
    assert stored[bad["__id"]].data == odk_world.server_rows()[bad["__id"]]
    newest = good if field == "submissionDate" else bad  # a bad `updatedAt` leaves the row's good submissionDate
    assert _cursor(odk_world)["changed"] == newest["__system"]["submissionDate"]
    assert _flagged(odk_world, minimal_catalogue) == {bad["__id"]}
    fake.clock.advance(dt.timedelta(hours=2))
    [late] = odk_world.add(1)
    again = odk_world.sync(reconcile_every=NOT_DUE)
    assert (again.status, again.error, again.rows_new) == ("success", None, 1)
    assert late["__id"] in _stored(odk_world)
    full = odk_world.sync(full=True)
    assert (full.status, full.error, full.rows_changed, full.rows_deleted) == ("success", None, 0, 0)
    odk_world.assert_store_equals_server()


@pytest.mark.parametrize("odk_world", ["2026.2"], indirect=True)
def test_odk_a_bad_deleted_at_still_tombstones(odk_world: OdkWorld) -> None:
    fake = odk_world.fake
    [kept, gone] = odk_world.add(2)
    assert odk_world.sync().rows_new == 2
    fake.delete_submission(odk_world.project, odk_world.form_id, gone["__id"])
    fake.odd_system[gone["__id"]] = {"deletedAt": "gestern"}
    run = odk_world.sync(reconcile_every=NOT_DUE)
    assert (run.status, run.error, run.rows_deleted) == ("success", None, 1)
    live = {remote_id for remote_id, row in _stored(odk_world).items() if not row.deleted}
    assert live == {kept["__id"]}
