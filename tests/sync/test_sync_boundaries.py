"""Deletions at the edges of a scan, on every platform and every pass: the store must end equal to the server.

Kobo scans by ascending `_id`, Central pages newest first; either way the newest row, the oldest row, a row on a
page boundary, an empty form and a form whose every row was deleted are where a scan's "up to what I saw" bound
goes wrong. Passes:

* `deleted-list`: an incremental run whose reconciliation is not due. Only Central 2024.3+ can show deletions
  to it (`__system/deletedAt`); Kobo has no deleted list and Central 2024.2 cannot filter on `deletedAt`, so on
  those a deletion waits for the reconciliation (the two other passes).
* `reconcile`: an incremental run whose daily reconciliation is due.
* `full`: `sera sync --full`.
"""

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine

from sera.settings import Settings
from sync.tables import SyncRun
from tests.fakes.loopback import serve
from tests.fakes.odk_central import CentralFake, make_xform
from tests.worlds import (
    ODK_EMAIL,
    ODK_PASSWORD,
    KoboWorld,
    OdkWorld,
    add_people,
    central_connection,
    link,
    stored_rows,
)

PAGE = 5


@dataclass
class Side:
    """One platform seen the same way by every test: add rows, delete one, sync, compare."""

    name: str
    world: KoboWorld | OdkWorld
    add_rows: Callable[[int], list[str]]
    """Add N submissions; their root ids, oldest first."""
    delete: Callable[[str], None]

    @property
    def has_deleted_list(self) -> bool:
        return isinstance(self.world, OdkWorld) and self.world.fake.has_deleted_at

    def sync(self, mode: str) -> SyncRun:
        if mode == "full":
            return self.world.sync(full=True, page_size=PAGE)
        due = dt.timedelta(0) if mode == "reconcile" else dt.timedelta(days=365)
        return self.world.sync(page_size=PAGE, reconcile_every=due)

    def live(self) -> set[str]:
        return set(stored_rows(self.world.engine))

    def assert_store_equals_server(self) -> None:
        self.world.assert_store_equals_server()


def _kobo_side(world: KoboWorld) -> Side:
    ids: dict[str, int] = {}

    def add_rows(count: int) -> list[str]:
        rows = add_people(world.fake, world.asset, count)
        ids.update({row["meta/rootUuid"]: row["_id"] for row in rows})
        return [row["meta/rootUuid"] for row in rows]

    return Side("kobo", world, add_rows, lambda root: world.fake.delete_submission(world.asset, ids[root]))


def _odk_side(world: OdkWorld) -> Side:
    def add_rows(count: int) -> list[str]:
        return [row["__id"] for row in world.add(count)]

    def delete(root: str) -> None:
        world.fake.delete_submission(world.project, world.form_id, root)

    return Side(f"odk-{world.fake.version}", world, add_rows, delete)


@pytest.fixture
def odk_server(
    request: pytest.FixtureRequest, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], Iterator[OdkWorld]]:
    """`odk_server(version)` → a served Central fake of that version with the linked form `suivi_activites`."""

    def start(version: str) -> Iterator[OdkWorld]:
        fake = CentralFake(version=version)
        fake.add_user(ODK_EMAIL, ODK_PASSWORD)
        project = fake.add_project("PRIM 2")
        fake.add_form(project, make_xform("suivi_activites", "v1"))
        monkeypatch.setenv("SERA_TEST_ODK_PASSWORD", ODK_PASSWORD)
        with serve(fake.app) as url:
            link(engine, central_connection(engine, url, project), "attendance", "suivi_activites")
            yield OdkWorld(engine, settings, [], fake=fake, url=url, project=project, form_id="suivi_activites")

    return start


@pytest.fixture(params=["kobo", "odk-2026.2", "odk-2024.2"])
def side(request: pytest.FixtureRequest, odk_server: Callable[[str], Iterator[OdkWorld]]) -> Iterator[Side]:
    if request.param == "kobo":
        yield _kobo_side(request.getfixturevalue("kobo_world"))
        return
    worlds = odk_server(request.param.removeprefix("odk-"))
    yield _odk_side(next(worlds))
    worlds.close()


MODES = ["deleted-list", "reconcile", "full"]


def _applies(side: Side, mode: str) -> None:
    if mode == "deleted-list" and not side.has_deleted_list:
        pytest.skip(f"{side.name} has no deleted list: its deletions are found by the reconciliation")


def _delete_and_sync(side: Side, rows: list[str], gone: list[str], mode: str) -> SyncRun:
    first = side.sync("full")
    assert (first.status, first.rows_new) == ("success", len(rows)), first.error
    for root in gone:
        side.delete(root)
    run = side.sync(mode)
    assert run.status == "success", run.error
    return run


@pytest.mark.parametrize("mode", MODES)
def test_deleting_the_two_newest_is_seen(side: Side, mode: str) -> None:
    _applies(side, mode)
    rows = side.add_rows(20)
    run = _delete_and_sync(side, rows, rows[-2:], mode)
    assert run.rows_deleted == 2
    assert side.live() == set(rows[:-2])
    side.assert_store_equals_server()


@pytest.mark.parametrize("mode", MODES)
def test_deleting_the_oldest_is_seen(side: Side, mode: str) -> None:
    _applies(side, mode)
    rows = side.add_rows(12)
    run = _delete_and_sync(side, rows, rows[:1], mode)
    assert run.rows_deleted == 1
    assert side.live() == set(rows[1:])
    side.assert_store_equals_server()


@pytest.mark.parametrize("mode", MODES)
def test_deletions_on_both_sides_of_a_page_boundary_are_seen(side: Side, mode: str) -> None:
    _applies(side, mode)
    rows = side.add_rows(3 * PAGE)  # three full pages: the last row ends a page exactly
    gone = [rows[PAGE - 1], rows[PAGE], rows[2 * PAGE - 1], rows[2 * PAGE]]
    run = _delete_and_sync(side, rows, gone, mode)
    assert run.rows_deleted == 4
    assert side.live() == set(rows) - set(gone)
    side.assert_store_equals_server()


@pytest.mark.parametrize("mode", MODES)
def test_a_form_whose_every_row_was_deleted_is_emptied(side: Side, mode: str) -> None:
    _applies(side, mode)
    rows = side.add_rows(2 * PAGE)
    run = _delete_and_sync(side, rows, rows, mode)
    assert run.rows_deleted == len(rows)
    assert side.live() == set()
    side.assert_store_equals_server()


@pytest.mark.parametrize("mode", MODES)
def test_an_empty_form_syncs_to_an_empty_store_and_a_first_row_arrives(side: Side, mode: str) -> None:
    _applies(side, mode)
    for _ in range(2):
        run = side.sync(mode)
        assert (run.status, run.rows_new, run.rows_deleted) == ("success", 0, 0), run.error
    (only,) = side.add_rows(1)
    assert side.sync(mode).rows_new == 1
    side.delete(only)
    run = side.sync(mode)
    assert (run.status, run.rows_deleted) == ("success", 1), run.error
    assert side.live() == set()
    side.assert_store_equals_server()


def test_the_newest_deleted_then_a_new_row_added_is_seen_by_the_next_reconcile(side: Side) -> None:
    """The reconciliation must not stop at the newest id it saw, even when a newer live row exists."""
    rows = side.add_rows(10)
    side.sync("full")
    side.delete(rows[-1])
    (late,) = side.add_rows(1)
    run = side.sync("reconcile")
    assert (run.status, run.rows_new, run.rows_deleted) == ("success", 1, 1), run.error
    assert side.live() == {*rows[:-1], late}
    side.assert_store_equals_server()
