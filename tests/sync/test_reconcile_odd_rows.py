"""Rows the store keeps in an unusual shape take part in every sync pass like any other row: a Kobo `_id` beyond
64 bits (no number column) and a root id stored under its digest (`sha256:…`, too long for an index key) are
confirmed deleted when the server drops them, brought back when Central restores them, not asked about again
when unchanged, and never tombstoned while the server still has them."""

import datetime as dt
from urllib.parse import unquote_plus

from sqlmodel import Session, select

from sync.normalize import odk_record
from sync.odk.client import CentralClient
from sync.pull import OdkPull, PullOptions
from sync.tables import RemoteForm, Submission
from tests.worlds import NO_WAIT, ODK_EMAIL, ODK_PASSWORD, KoboWorld, OdkWorld, add_people

LONG = "uuid:" + "a1" * 400
"""A root id of 805 characters: stored under its digest."""


def _stored(world: KoboWorld | OdkWorld) -> dict[str, Submission]:
    """Every stored submission by the id the server gives it (`_id` or `__id`)."""
    with Session(world.engine) as session:
        return {row.remote_id: row for row in session.exec(select(Submission))}


def _live(world: KoboWorld | OdkWorld) -> set[str]:
    return {remote_id for remote_id, row in _stored(world).items() if not row.deleted}


def _kobo_single_row_requests(world: KoboWorld) -> list[str]:
    """Requests that ask about particular rows: an `_id $in` refetch or one submission's own URL."""
    return [
        f"{seen.method} {seen.path} {seen.params}"
        for seen in world.fake.requests
        if '"$in"' in seen.params.get("query", "") or seen.path.rstrip("/").split("/")[-1].isdigit()
    ]


def _odk_single_row_requests(world: OdkWorld) -> list[str]:
    """Requests that ask about particular rows: the REST submission, or an OData filter on `__id`."""
    return [
        f"{seen.method} {seen.path} {seen.query}"
        for seen in world.fake.requests
        if "/submissions/" in seen.path or "__id" in unquote_plus(seen.query).split("$select")[0]
    ]


# --- Kobo ----------------------------------------------------------------------------------------------------


def test_kobo_id_beyond_64_bits_is_confirmed_deleted(kobo_world: KoboWorld) -> None:
    """A row without a number column is a deletion candidate like any other (no bound on `remote_seq`)."""
    fake, asset = kobo_world.fake, kobo_world.asset
    add_people(fake, asset, 2)
    with fake.lock:
        fake._next_id = 2**63  # the server's next `_id` does not fit a 64-bit integer
    [huge, kept] = add_people(fake, asset, 2)
    assert kobo_world.sync(full=True).rows_new == 4
    assert _stored(kobo_world)[str(huge["_id"])].remote_seq is None
    fake.delete_submission(asset, huge["_id"])
    run = kobo_world.sync(reconcile_every=dt.timedelta(0))
    assert (run.status, run.error, run.rows_deleted) == ("success", None, 1)
    assert str(huge["_id"]) not in _live(kobo_world) and str(kept["_id"]) in _live(kobo_world)
    kobo_world.assert_store_equals_server()


def test_kobo_digest_keyed_row_is_not_refetched_kept_and_confirmed_deleted(kobo_world: KoboWorld) -> None:
    root, key = LONG, "sha256:"
    fake, asset = kobo_world.fake, kobo_world.asset
    [plain, odd, other] = add_people(fake, asset, 3)
    with fake.lock:
        fake.assets[asset].records[odd["_id"]]["meta/rootUuid"] = root
    assert kobo_world.sync(full=True).rows_new == 3
    assert _stored(kobo_world)[str(odd["_id"])].root_id.startswith(key)
    fake.requests.clear()
    again = kobo_world.sync(full=True)
    assert (again.status, again.rows_new, again.rows_changed, again.rows_deleted) == ("success", 0, 0, 0)
    assert _kobo_single_row_requests(kobo_world) == []  # an unchanged row is not asked about again
    assert _live(kobo_world) == {str(plain["_id"]), str(odd["_id"]), str(other["_id"])}
    fake.delete_submission(asset, odd["_id"])
    run = kobo_world.sync(full=True)
    assert (run.status, run.error, run.rows_deleted) == ("success", None, 1)
    assert _live(kobo_world) == {str(plain["_id"]), str(other["_id"])}


# --- ODK Central ---------------------------------------------------------------------------------------------


def _add_long(world: OdkWorld) -> None:
    world.fake.add_submission(world.project, world.form_id, {"name": "Q", "age": 30}, instance_id=LONG)


def test_odk_digest_keyed_row_is_not_refetched_by_a_reconcile(odk_world: OdkWorld) -> None:
    odk_world.add(2)
    _add_long(odk_world)
    assert odk_world.sync(full=True).rows_new == 3
    assert _stored(odk_world)[LONG].root_id.startswith("sha256:")
    odk_world.fake.requests.clear()
    again = odk_world.sync(full=True)
    assert (again.status, again.rows_new, again.rows_changed, again.rows_deleted) == ("success", 0, 0, 0)
    assert _odk_single_row_requests(odk_world) == []
    assert LONG in _live(odk_world)


def test_odk_digest_keyed_row_deleted_then_restored(odk_world: OdkWorld) -> None:
    """Deleted: tombstoned by the deleted list (2024.3+) or the reconciliation; restored: back on the next
    incremental run (2024.3+) or reconciliation (2024.2)."""
    fake = odk_world.fake
    _add_long(odk_world)
    fake.clock.advance(dt.timedelta(hours=2))  # past the window's overlap: only a restore check can revive it
    [kept] = odk_world.add(1)
    assert odk_world.sync(full=True).rows_new == 2
    fake.delete_submission(odk_world.project, odk_world.form_id, LONG)
    incremental = dt.timedelta(days=365 if fake.has_deleted_at else 0)  # 2024.2 waits for the reconciliation
    run = odk_world.sync(reconcile_every=incremental)
    assert (run.status, run.error, run.rows_deleted) == ("success", None, 1)
    assert _live(odk_world) == {kept["__id"]}
    fake.restore_submission(odk_world.project, odk_world.form_id, LONG)
    run = odk_world.sync(reconcile_every=incremental)
    assert (run.status, run.error) == ("success", None)
    assert _live(odk_world) == {kept["__id"], LONG}
    assert _stored(odk_world)[LONG].data == odk_world.server_rows()[LONG]


def test_odk_deletion_is_confirmed_by_the_servers_id_not_the_stored_key(odk_world: OdkWorld) -> None:
    """A live row the reconciliation's listing did not see is asked about by its `__id`: asking by the stored
    digest gets a 404 from Central and would tombstone a row the server still has."""
    _add_long(odk_world)
    [gone] = odk_world.add(1)
    first = odk_world.sync(full=True)
    assert first.rows_new == 2
    odk_world.fake.delete_submission(odk_world.project, odk_world.form_id, gone["__id"])
    with Session(odk_world.engine) as session:
        remote = session.exec(select(RemoteForm)).one()
    assert remote.id is not None and first.id is not None
    client = CentralClient(odk_world.url, ODK_EMAIL, ODK_PASSWORD, policy=NO_WAIT, sleep=lambda _s: None)
    pull = OdkPull(
        odk_world.engine,
        remote.id,
        first.id,
        PullOptions(),
        client=client,
        project_id=odk_world.project,
        xml_form_id=odk_world.form_id,
    )
    pull.confirm_deletions(first.id + 1000, pull._lookup, odk_record)  # a mark no row carries: both are candidates
    assert _live(odk_world) == {LONG}
    assert pull.counts.deleted == 1
