"""Instance ids of every shape Central accepts, through the reconciliation: never a tombstone without proof.

Central's single-row OData route `Submissions('…')` only matches keys of `(uuid:)?[a-z0-9-]+` on the raw path
(`lib/resources/odata.js`, with the `i` flag) and answers 404.1 for anything else, although submissions imported
or sent by other clients carry apostrophes, Arabic, brackets or spaces. The sync confirms a deletion with the REST
submission, which answers for any instance id, reads rows with `__id eq '…'` (quotes doubled) or, on v2024.2, by
their submission time, and fails the run rather than tombstone on an answer that proves nothing.
"""

import datetime as dt
from collections.abc import Iterator
from urllib.parse import quote, unquote, unquote_plus

import httpx
import pytest
from sqlmodel import select

from sera.db import session_scope
from sync.normalize import odk_record
from sync.odk import CentralClient
from sync.store import upsert_records
from sync.tables import RemoteForm
from tests.fakes.loopback import serve
from tests.fakes.odk_central import CentralFake, make_xform
from tests.worlds import ODK_EMAIL, ODK_PASSWORD, OdkWorld, stored_rows

SHAPES = {
    "uuid": "uuid:5c0a3c1e-8f1f-4e7a-9d55-0c9a1f6b2d10",
    "upper-case": "UUID:5C0A3C1E-8F1F-4E7A-9D55-0C9A1F6B2D11",
    "apostrophe": "uuid:l'école-3",
    "two-apostrophes": "it''s",
    "arabic": "استمارة-٤٢",
    "brackets": "[import](42)",
    "spaces": "collecte du 4 mai",
}
FORM = "suivi_activites"
REST_GET = r"^GET /v1/projects/\d+/forms/[^/]+/submissions/[^/]+$"


def _add_shapes(world: OdkWorld) -> list[str]:
    for instance_id in SHAPES.values():
        world.fake.add_submission(world.project, FORM, {"name": "Imported", "age": 30}, instance_id=instance_id)
    return list(SHAPES.values())


@pytest.fixture(params=["2026.2", "2024.2"])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[CentralFake, httpx.Client, int]]:
    """A fake Central with every shape submitted, and a logged-in raw HTTP client (what any client sends)."""
    fake = CentralFake(request.param)
    fake.add_user(ODK_EMAIL, ODK_PASSWORD)
    project = fake.add_project()
    fake.add_form(project, make_xform(FORM, "1"))
    for instance_id in SHAPES.values():
        fake.add_submission(project, FORM, {"name": "x", "age": 1}, instance_id=instance_id)
    with serve(fake.app) as url, httpx.Client(base_url=url) as http:
        token = http.post("/v1/sessions", json={"email": ODK_EMAIL, "password": ODK_PASSWORD}).json()["token"]
        http.headers["Authorization"] = f"Bearer {token}"
        yield fake, http, project


def _code(response: httpx.Response) -> str:
    return str(response.json().get("code")) if response.status_code >= 400 else str(response.status_code)


Served = tuple[CentralFake, httpx.Client, int]


def test_the_fake_single_row_route_matches_only_what_central_matches(served: Served) -> None:
    _fake, http, project = served
    base = f"/v1/projects/{project}/forms/{FORM}.svc"

    def row(raw_key: str) -> str:
        return _code(http.get(f"{base}/Submissions('{raw_key}')"))

    assert row(SHAPES["uuid"]) == "200"
    assert row(SHAPES["upper-case"]) == "200", "Central's singleRowRegex has the i flag"
    assert row(quote(SHAPES["uuid"], safe="")) == "404.1", "a percent-encoded ':' is not in the raw-path pattern"
    for name in ("apostrophe", "two-apostrophes", "arabic", "brackets", "spaces"):
        assert row(quote(SHAPES[name], safe="'")) == "404.1", name
    assert row("uuid:00000000-0000-4000-8000-000000000000") == "404.1"


def test_the_fake_rest_submission_answers_for_every_shape(served: Served) -> None:
    fake, http, project = served
    base = f"/v1/projects/{project}/forms/{FORM}/submissions"
    for instance_id in SHAPES.values():
        response = http.get(f"{base}/{quote(instance_id, safe='')}")
        assert (response.status_code, response.json()["instanceId"]) == (200, instance_id)
    fake.delete_submission(project, FORM, SHAPES["arabic"])
    assert _code(http.get(f"{base}/{quote(SHAPES['arabic'], safe='')}")) == "404.1"
    fake.edit_submission(project, FORM, SHAPES["spaces"], {"name": "y"}, new_instance_id="uuid:v2")
    moved = http.get(f"{base}/uuid:v2", follow_redirects=False)
    assert (moved.status_code, unquote(moved.headers["location"])) == (
        301,
        f"{base}/{SHAPES['spaces']}/versions/uuid:v2",
    )


def test_every_shape_survives_reconciles_and_is_deleted_and_restored(odk_world: OdkWorld) -> None:
    fake, p = odk_world.fake, odk_world.project
    shapes = _add_shapes(odk_world)
    fake.clock.advance(dt.timedelta(hours=2))  # the window's cursor moves past them: only a reconcile reads them
    odk_world.add(3)
    assert odk_world.sync(full=True).rows_new == 3 + len(shapes)
    run = odk_world.sync(reconcile_every=dt.timedelta(0))
    assert (run.status, run.rows_deleted) == ("success", 0), run.error
    odk_world.assert_store_equals_server()

    for instance_id in shapes:
        fake.delete_submission(p, FORM, instance_id)
    run = odk_world.sync(full=True)
    assert (run.status, run.rows_deleted) == ("success", len(shapes)), run.error
    odk_world.assert_store_equals_server()

    for instance_id in shapes:
        fake.restore_submission(p, FORM, instance_id)
    run = odk_world.sync(reconcile_every=dt.timedelta(0))  # not `--full`: its window would re-read every row
    assert (run.status, run.rows_changed) == ("success", len(shapes)), run.error
    odk_world.assert_store_equals_server()


def _push_between_reconcile_pages(world: OdkWorld) -> list[str]:
    """Rows of every shape that reach the server, and the store (as a webhook would), while the reconciliation
    lists the form: its listing does not have them, so each is a candidate that must be found present."""
    pushed: list[str] = []
    with session_scope(world.engine) as session:
        remote_form_id = session.exec(select(RemoteForm.id)).one()

    def push(_number: int) -> None:
        last = world.fake.requests[-1]
        query = unquote(last.query)
        if pushed or "$select" not in query or "$filter" in query:  # only the reconciliation's own listing
            return
        rows = [
            world.fake.add_submission(world.project, FORM, {"name": "Late", "age": 41}, instance_id=instance_id)
            for instance_id in SHAPES.values()
        ]
        with session_scope(world.engine) as session:
            upsert_records(session, remote_form_id, [odk_record(row) for row in rows], run_id=None, source="push")
        pushed.extend(row["__id"] for row in rows)

    world.fake.between_pages = push
    return pushed


def test_a_candidate_of_any_shape_that_the_server_has_is_kept(odk_world: OdkWorld) -> None:
    odk_world.add(3)
    odk_world.sync(full=True)
    pushed = _push_between_reconcile_pages(odk_world)
    run = odk_world.sync(reconcile_every=dt.timedelta(0))
    odk_world.fake.between_pages = None
    assert len(pushed) == len(SHAPES)
    assert (run.status, run.rows_deleted) == ("success", 0), run.error
    assert set(pushed) <= set(stored_rows(odk_world.engine))
    odk_world.assert_store_equals_server()


@pytest.mark.parametrize("status", [500, 503, 403, 404])
def test_an_answer_that_proves_nothing_never_makes_a_tombstone(odk_world: OdkWorld, status: int) -> None:
    """5xx (after retries), 403, and a 404 that is not Central's 404.1 (a proxy's page): the run fails, no row
    is tombstoned, and the next run, with the server answering again, keeps them all."""
    odk_world.add(3)
    odk_world.sync(full=True)
    pushed = _push_between_reconcile_pages(odk_world)
    odk_world.fake.fail_next(1000, status=status, match=REST_GET)
    run = odk_world.sync(reconcile_every=dt.timedelta(0))
    odk_world.fake.between_pages = None
    odk_world.fake.clear_faults()
    assert run.status == "failed"
    assert run.rows_deleted == 0
    assert stored_rows(odk_world.engine) == stored_rows(odk_world.engine, include_deleted=True)
    run = odk_world.sync(reconcile_every=dt.timedelta(0))
    assert (run.status, run.rows_deleted) == ("success", 0), run.error
    assert set(pushed) <= set(stored_rows(odk_world.engine))
    odk_world.assert_store_equals_server()


def test_a_form_gone_from_the_server_does_not_tombstone_its_rows(odk_world: OdkWorld) -> None:
    """Central answers 404.1 for every submission of a form it no longer has: that proves nothing about rows."""
    rows = odk_world.add(4)
    odk_world.sync(full=True)
    odk_world.fake.purge_submission(odk_world.project, FORM, rows[0]["__id"])  # a candidate the REST GET 404s
    odk_world.fake.fail_next(1000, status=404, match=rf"^GET /v1/projects/\d+/forms/{FORM}$")
    run = odk_world.sync(reconcile_every=dt.timedelta(0))
    odk_world.fake.clear_faults()
    assert run.status == "failed" and run.rows_deleted == 0, run.error


def test_the_client_reads_and_confirms_every_shape(served: Served) -> None:
    fake, http, project = served
    with CentralClient(str(http.base_url), ODK_EMAIL, ODK_PASSWORD) as client:
        for instance_id in SHAPES.values():
            row = client.get_submission(project, FORM, instance_id)
            assert row is not None and row["__id"] == instance_id, instance_id
            assert client.submission_exists(project, FORM, instance_id) is True
        for instance_id in SHAPES.values():
            fake.delete_submission(project, FORM, instance_id)
            assert client.get_submission(project, FORM, instance_id) is None
            assert client.submission_exists(project, FORM, instance_id) is False
    filters = [q for r in fake.requests if "__id eq" in (q := unquote_plus(r.query))]
    if fake.version >= "2024.3":
        assert any("__id eq 'it''''s'" in f for f in filters), "each quote of the key doubled in the literal"
        assert any("__id eq 'uuid:l''école-3'" in f for f in filters)
    else:
        assert filters == ["$filter=__id eq ''&$top=0"], "v2024.2 answers 501.5: only the probe asked"
