"""Kobo scenarios: after each, the store equals the server exactly (contracts/kobo-api.md §6)."""

import datetime as dt

from sqlmodel import Session, select

from sync.tables import RemoteForm, Submission
from tests.worlds import KoboWorld, add_people, stored_rows


def test_first_full_sync_of_2500_submissions_over_many_pages(kobo_world: KoboWorld) -> None:
    add_people(kobo_world.fake, kobo_world.asset, 2500)
    run = kobo_world.sync(full=True, page_size=200)
    assert (run.status, run.rows_new, run.rows_changed, run.rows_deleted) == ("success", 2500, 0, 0)
    assert run.pages >= 13
    kobo_world.assert_store_equals_server()
    again = kobo_world.sync()
    assert (again.status, again.rows_new, again.rows_changed) == ("success", 0, 0)


def test_incremental_run_sees_new_and_edited_submissions(kobo_world: KoboWorld) -> None:
    fake, asset = kobo_world.fake, kobo_world.asset
    first = add_people(fake, asset, 30)
    kobo_world.sync(full=True)
    add_people(fake, asset, 5)
    fake.edit_submission(asset, first[3]["_id"], {"age": "99"})
    fake.set_validation_status(asset, first[4]["_id"], "validation_status_approved")
    run = kobo_world.sync()
    assert (run.status, run.rows_new, run.rows_changed) == ("success", 5, 2)
    kobo_world.assert_store_equals_server()
    root = first[3]["meta/rootUuid"]
    assert stored_rows(kobo_world.engine)[root]["age"] == "99"


def test_deletions_become_tombstones_after_confirmation(kobo_world: KoboWorld, session: Session) -> None:
    fake, asset = kobo_world.fake, kobo_world.asset
    rows = add_people(fake, asset, 20)
    kobo_world.sync(full=True)
    for row in rows[5:8]:
        fake.delete_submission(asset, row["_id"])
    run = kobo_world.sync(full=True)
    assert (run.status, run.rows_deleted) == ("success", 3)
    kobo_world.assert_store_equals_server()
    deleted = session.exec(select(Submission).where(Submission.deleted == True)).all()  # noqa: E712
    assert sorted(s.root_id for s in deleted) == sorted(r["meta/rootUuid"] for r in rows[5:8])
    assert all(s.data for s in deleted), "a tombstone keeps the data it had"


def test_offline_phone_and_late_visible_rows_are_caught_by_the_lookback(kobo_world: KoboWorld) -> None:
    fake, asset = kobo_world.fake, kobo_world.asset
    add_people(fake, asset, 10)
    slow = fake.add_submission(asset, {"activity_date": "2026-03-02", "sex": "male"}, visible=False)
    add_people(fake, asset, 3)
    kobo_world.sync()
    assert slow["meta/rootUuid"] not in stored_rows(kobo_world.engine)
    fake.reveal(asset, slow["_id"])
    weeks_offline = fake.add_submission(
        asset, {"activity_date": "2026-01-15", "sex": "female", "start": "2026-01-15T09:00:00.000+01:00"}
    )
    run = kobo_world.sync()
    assert (run.status, run.rows_new) == ("success", 2)
    kobo_world.assert_store_equals_server()
    assert weeks_offline["meta/rootUuid"] in stored_rows(kobo_world.engine)


def test_every_third_request_failing_with_503_is_retried(kobo_world: KoboWorld) -> None:
    add_people(kobo_world.fake, kobo_world.asset, 1200)
    kobo_world.fake.fail_every(3)
    run = kobo_world.sync(full=True, page_size=100)
    assert run.status == "success", run.error
    assert run.retries > 5
    kobo_world.fake.clear_faults()
    kobo_world.assert_store_equals_server()


def test_a_revoked_token_fails_the_run_clearly_and_loses_nothing(kobo_world: KoboWorld, session: Session) -> None:
    fake, asset = kobo_world.fake, kobo_world.asset
    add_people(fake, asset, 500)
    fake.between_pages(lambda n: fake.revoke_token(fake.token) if n == 2 else None)
    run = kobo_world.sync(full=True, page_size=100)
    assert run.status == "failed"
    assert "kobo HTTP 401" in (run.error or "") and fake.token not in (run.error or "")
    kept = stored_rows(kobo_world.engine)
    assert len(kept) == 200
    fake.between_pages(None)
    fake.tokens[fake.token] = fake.username
    resumed = kobo_world.sync(full=True, page_size=100)
    assert (resumed.status, resumed.rows_new) == ("success", 300)
    kobo_world.assert_store_equals_server()


def test_a_malformed_page_fails_loudly_and_changes_nothing_stored(kobo_world: KoboWorld) -> None:
    fake, asset = kobo_world.fake, kobo_world.asset
    add_people(fake, asset, 300)
    kobo_world.sync(full=True, page_size=100)
    before = stored_rows(kobo_world.engine)
    fake.edit_submission(asset, fake.submissions(asset)[0]["_id"], {"age": "77"})
    fake.malform_page(1, "bad_id")
    run = kobo_world.sync(page_size=100)
    assert run.status == "failed"
    assert "no integer _id" in (run.error or "")
    assert stored_rows(kobo_world.engine) == before
    run = kobo_world.sync(page_size=100)
    assert run.status == "success"
    kobo_world.assert_store_equals_server()


def test_a_run_that_dies_mid_sweep_resumes_without_loss_or_duplicates(kobo_world: KoboWorld, session: Session) -> None:
    fake, asset = kobo_world.fake, kobo_world.asset
    add_people(fake, asset, 1000)
    fake.between_pages(lambda n: fake.fail_next(50, status=500) if n == 4 else None)
    crashed = kobo_world.sync(full=True, page_size=100)
    assert crashed.status == "failed"
    remote = session.exec(select(RemoteForm)).one()
    assert remote.cursor["tail"]["last_id"] == fake.submissions(asset)[399]["_id"]
    fake.between_pages(None)
    fake.clear_faults()
    add_people(fake, asset, 7)
    resumed = kobo_world.sync(page_size=100)
    assert resumed.status == "success"
    assert resumed.rows_new == 607
    kobo_world.assert_store_equals_server()
    count = len(session.exec(select(Submission)).all())
    assert count == 1007


def test_rows_edited_and_deleted_between_pages(kobo_world: KoboWorld) -> None:
    fake, asset = kobo_world.fake, kobo_world.asset
    rows = add_people(fake, asset, 600)

    def meddle(page: int) -> None:
        if page == 2:
            fake.delete_submission(asset, rows[10]["_id"])
            fake.edit_submission(asset, rows[550]["_id"], {"age": "61"})
            fake.add_submission(asset, {"activity_date": "2026-05-05", "sex": "male"})

    fake.between_pages(meddle)
    run = kobo_world.sync(full=True, page_size=100)
    fake.between_pages(None)
    assert run.status == "success"
    kobo_world.assert_store_equals_server()


def test_cursor_holds_server_times_only(kobo_world: KoboWorld, session: Session) -> None:
    fake, asset = kobo_world.fake, kobo_world.asset
    fake.add_submission(asset, {"sex": "male"}, submission_time="2026-04-01T10:00:00")
    kobo_world.sync()
    remote = session.exec(select(RemoteForm)).one()
    assert remote.cursor["hwm"] == "2026-04-01T10:00:00"
    assert remote.cursor["tail"] is None
    assert dt.datetime.fromisoformat(remote.cursor["hwm"]) < dt.datetime(2026, 11, 1)
