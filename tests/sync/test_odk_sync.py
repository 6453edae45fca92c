"""ODK Central scenarios, on a current server and on one without `deletedAt`: the store equals the server."""

import datetime as dt

import pytest
from sqlmodel import Session, select

from sync.tables import Submission
from tests.fakes.odk_central import Definition, make_xform
from tests.worlds import OdkWorld, stored_rows


def test_2500_submissions_over_many_pages_then_nothing_new(odk_world: OdkWorld) -> None:
    odk_world.add(2500)
    run = odk_world.sync(full=True, page_size=200)
    assert (run.status, run.rows_new) == ("success", 2500), run.error
    assert run.pages >= 13
    odk_world.assert_store_equals_server()
    again = odk_world.sync()
    assert (again.status, again.rows_new, again.rows_changed) == ("success", 0, 0)


def test_edits_review_states_and_new_rows_between_runs(odk_world: OdkWorld) -> None:
    fake, p, f = odk_world.fake, odk_world.project, odk_world.form_id
    rows = odk_world.add(40)
    odk_world.sync(full=True)
    fake.clock.advance(dt.timedelta(minutes=30))
    fake.edit_submission(p, f, rows[2]["__id"], {"name": "Amina", "age": 31, "household": {"size": 2}})
    fake.set_review_state(p, f, rows[3]["__id"], "approved")
    odk_world.add(4)
    run = odk_world.sync()
    assert (run.status, run.rows_new, run.rows_changed) == ("success", 4, 2), run.error
    odk_world.assert_store_equals_server()
    assert stored_rows(odk_world.engine)[rows[2]["__id"]]["name"] == "Amina"


def test_deletions_and_restores(odk_world: OdkWorld, session: Session) -> None:
    fake, p, f = odk_world.fake, odk_world.project, odk_world.form_id
    rows = odk_world.add(30)
    odk_world.sync(full=True)
    fake.delete_submission(p, f, rows[4]["__id"])
    fake.delete_submission(p, f, rows[5]["__id"])
    # deletedAt (2024.3+) shows deletions to an incremental run; older servers need the reconciliation
    run = odk_world.sync(full=not fake.has_deleted_at)
    assert (run.status, run.rows_deleted) == ("success", 2), run.error
    odk_world.assert_store_equals_server()
    fake.restore_submission(p, f, rows[4]["__id"])
    run = odk_world.sync(full=True)
    assert (run.status, run.rows_changed) == ("success", 1), "a restore bumps nothing: see test_odk_restores.py"
    odk_world.assert_store_equals_server()
    deleted = session.exec(select(Submission).where(Submission.deleted == True)).all()  # noqa: E712
    assert [s.root_id for s in deleted] == [rows[5]["__id"]]


def test_a_phone_offline_for_weeks_and_two_form_versions(odk_world: OdkWorld) -> None:
    fake, p, f = odk_world.fake, odk_world.project, odk_world.form_id
    odk_world.add(10)
    odk_world.sync()
    form = fake.form(p, f)
    with fake.lock:
        fake.replace_draft(
            form,
            Definition.from_xml(
                make_xform(
                    f,
                    "v2",
                    fields={
                        "name": "string",
                        "age": "int",
                        "household": {"size": "int"},
                        "people": [{"person": "string"}],
                        "phone": "string",
                    },
                )
            ),
        )
        fake.publish(form, "v2")
    fake.add_submission(
        p, f, {"name": "Offline", "age": 40, "household": {"size": 3}}, form_version="v1", device_id="collect:old-phone"
    )
    fake.add_submission(p, f, {"name": "New", "age": 22, "household": {"size": 1}, "phone": "0600000000"})
    run = odk_world.sync()
    assert (run.status, run.rows_new) == ("success", 2), run.error
    odk_world.assert_store_equals_server()
    versions = {row["name"]: row["__system"]["formVersion"] for row in stored_rows(odk_world.engine).values()}
    assert (versions["Offline"], versions["New"]) == ("v1", "v2"), "a phone still on v1 weeks later is accepted"


def test_every_third_request_failing_and_a_session_expiring_mid_run(odk_world: OdkWorld) -> None:
    fake = odk_world.fake
    odk_world.add(900)
    fake.fail_every(3)
    fake.between_pages = lambda n: fake.expire_sessions() if n == 4 else None
    run = odk_world.sync(full=True, page_size=100)
    fake.between_pages = None
    fake.clear_faults()
    assert run.status == "success", run.error
    assert run.retries > 5
    assert fake.logins == 2
    odk_world.assert_store_equals_server()


def test_a_wrong_password_fails_clearly_and_a_malformed_page_changes_nothing(
    odk_world: OdkWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = odk_world.add(300)
    odk_world.sync(full=True, page_size=100)
    before = stored_rows(odk_world.engine)
    odk_world.fake.edit_submission(odk_world.project, odk_world.form_id, rows[0]["__id"], {"name": "X"})
    odk_world.fake.malformed_odata(odk_world.fake.odata_requests + 1, "missing-id")
    run = odk_world.sync(page_size=100)
    assert run.status == "failed" and "__id" in (run.error or "")
    assert stored_rows(odk_world.engine) == before
    monkeypatch.setenv("SERA_TEST_ODK_PASSWORD", "not the password")
    refused = odk_world.sync()
    monkeypatch.setenv("SERA_TEST_ODK_PASSWORD", "correct horse battery staple")
    assert refused.status == "failed"
    assert "sera@example.org" in (refused.error or "") and "not the password" not in (refused.error or "")
    assert odk_world.sync().status == "success"
    odk_world.assert_store_equals_server()


def test_a_run_that_dies_mid_window_resumes_without_loss_or_duplicates(odk_world: OdkWorld, session: Session) -> None:
    fake = odk_world.fake
    odk_world.add(1000)
    fake.between_pages = lambda n: fake.fail_next(50, status=500) if n == 4 else None
    crashed = odk_world.sync(full=True, page_size=100)
    fake.between_pages = None
    fake.clear_faults()
    assert crashed.status == "failed"
    assert len(stored_rows(odk_world.engine)) == 400
    odk_world.add(3)
    resumed = odk_world.sync(page_size=100)
    assert resumed.status == "success", resumed.error
    odk_world.assert_store_equals_server()
    assert len(session.exec(select(Submission)).all()) == 1003
