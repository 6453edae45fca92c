"""The submission store: keyed by root id; edits replace, duplicates are harmless, deletions are tombstones."""

import pytest
from sqlmodel import Session, select

from sync.connections import ConnectionSpec, add_connection, link_form
from sync.normalize import kobo_record, odk_record
from sync.store import tombstone, upsert_records
from sync.tables import Submission


def row(_id: int, uuid: str, root: str | None = None, **answers: str) -> dict[str, object]:
    return {
        "_id": _id,
        "_uuid": uuid,
        "meta/instanceID": f"uuid:{uuid}",
        "meta/rootUuid": f"uuid:{root or uuid}",
        "_submission_time": "2026-05-03T06:20:11",
        "__version__": "v1",
        "_validation_status": {},
        **answers,
    }


@pytest.fixture
def form_id(session: Session) -> int:
    connection = add_connection(session, ConnectionSpec(name="kobo", platform="kobo", url="http://kobo.test"))
    remote = link_form(session, connection, "attendance", "aAsset")
    session.commit()
    assert remote.id is not None
    return remote.id


def stored(session: Session) -> list[tuple[str, str | None, bool, str]]:
    rows = session.exec(select(Submission).order_by(Submission.root_id)).all()
    return [(r.root_id, r.instance_id, r.deleted, r.data.get("q", "")) for r in rows]  # type: ignore[misc]


def test_new_edit_duplicate_delete_and_return(session: Session, form_id: int) -> None:
    first = upsert_records(
        session, form_id, [kobo_record(row(1, "a", q="1")), kobo_record(row(2, "b", q="2"))], run_id=None, source="poll"
    )
    assert (first.new, first.changed, first.unchanged) == (2, 0, 0)
    again = upsert_records(session, form_id, [kobo_record(row(1, "a", q="1"))], run_id=None, source="hook")
    assert (again.new, again.changed, again.unchanged) == (0, 0, 1)
    edit = upsert_records(session, form_id, [kobo_record(row(1, "a2", root="a", q="10"))], run_id=None, source="poll")
    assert (edit.new, edit.changed) == (0, 1)
    assert tombstone(session, form_id, ["uuid:b"], run_id=None) == 1
    assert tombstone(session, form_id, ["uuid:b"], run_id=None) == 0
    session.commit()
    assert stored(session) == [("uuid:a", "uuid:a2", False, "10"), ("uuid:b", "uuid:b", True, "2")]
    back = upsert_records(session, form_id, [kobo_record(row(2, "b", q="2"))], run_id=None, source="reconcile")
    assert back.changed == 1
    session.commit()
    assert stored(session)[1] == ("uuid:b", "uuid:b", False, "2")


def test_a_page_repeating_a_submission_keeps_one_row(session: Session, form_id: int) -> None:
    counts = upsert_records(
        session, form_id, [kobo_record(row(1, "a", q="1")), kobo_record(row(1, "a", q="1"))], run_id=None, source="poll"
    )
    session.commit()
    assert counts.new == 1
    assert len(stored(session)) == 1


def edit(_id: int, uuid: str, previous: str, root: str, **answers: str) -> dict[str, object]:
    """An edit as Kobo serves it: same `_id` and root, a new instanceID naming the one it replaced."""
    return {**row(_id, uuid, root=root, **answers), "meta/deprecatedID": f"uuid:{previous}"}


def test_a_push_replay_never_moves_a_submission_backwards(session: Session, form_id: int) -> None:
    v1, v2 = kobo_record(row(1, "a", q="1")), kobo_record(edit(1, "a2", "a", "a", q="2"))
    assert upsert_records(session, form_id, [v1], run_id=None, source="hook").new == 1
    assert upsert_records(session, form_id, [v2], run_id=None, source="poll").changed == 1
    replay = upsert_records(session, form_id, [v1], run_id=None, source="hook")
    assert (replay.changed, replay.unchanged, replay.stale) == (0, 1, 1)
    session.commit()
    assert stored(session) == [("uuid:a", "uuid:a2", False, "2")]


def test_a_push_moves_forward_only_to_a_version_it_can_prove_newer(session: Session, form_id: int) -> None:
    v1 = kobo_record(row(1, "a", q="1"))
    v2, v3 = kobo_record(edit(1, "a2", "a", "a", q="2")), kobo_record(edit(1, "a3", "a2", "a", q="3"))
    upsert_records(session, form_id, [v1], run_id=None, source="poll")
    assert upsert_records(session, form_id, [v3], run_id=None, source="hook").changed == 1  # any edit follows v1
    session.commit()
    assert stored(session) == [("uuid:a", "uuid:a3", False, "3")]
    assert upsert_records(session, form_id, [v2], run_id=None, source="hook").stale == 1  # v3 replaced v2
    approved = kobo_record({**edit(1, "a3", "a2", "a", q="3"), "_validation_status": {"uid": "ok"}})
    assert upsert_records(session, form_id, [approved], run_id=None, source="hook").stale == 1  # same version
    assert upsert_records(session, form_id, [approved], run_id=None, source="poll").changed == 1  # the pull decides
    session.commit()
    assert session.exec(select(Submission.review_state)).one() == "ok"


def test_a_push_never_brings_a_deleted_submission_back_and_a_pull_does(session: Session, form_id: int) -> None:
    v1 = kobo_record(row(1, "a", q="1"))
    upsert_records(session, form_id, [v1], run_id=None, source="hook")
    tombstone(session, form_id, ["uuid:a"], run_id=None)
    assert upsert_records(session, form_id, [v1], run_id=None, source="hook").stale == 1
    v2 = kobo_record(edit(1, "a2", "a", "a", q="2"))
    assert upsert_records(session, form_id, [v2], run_id=None, source="hook").stale == 1  # newer, still deleted
    session.commit()
    assert stored(session) == [("uuid:a", "uuid:a", True, "1")]
    assert upsert_records(session, form_id, [v1], run_id=None, source="reconcile").changed == 1
    session.commit()
    assert stored(session) == [("uuid:a", "uuid:a", False, "1")]


def test_a_pull_read_before_a_newer_write_does_not_replace_it(session: Session, form_id: int) -> None:
    """A page read before an edit reached the store (a poll racing a delivery) leaves the newer version alone."""
    v1, v2 = kobo_record(row(1, "a", q="1")), kobo_record(edit(1, "a2", "a", "a", q="2"))
    upsert_records(session, form_id, [v2], run_id=None, source="hook")
    late = upsert_records(session, form_id, [v1], run_id=None, source="poll", reconcile_mark=4)
    assert (late.changed, late.stale) == (0, 1)
    session.commit()
    assert stored(session) == [("uuid:a", "uuid:a2", False, "2")]
    assert session.exec(select(Submission.reconcile_mark)).one() == 4  # the server has it: seen


def odk(version: int, updated: str | None, review: str | None = None) -> dict[str, object]:
    meta = {"instanceID": f"uuid:o{version}"} | ({"deprecatedID": f"uuid:o{version - 1}"} if version > 1 else {})
    system = {"submissionDate": "2026-05-03T06:20:11.000Z", "updatedAt": updated, "reviewState": review}
    return {"__id": "uuid:o1", "__system": system, "meta": meta, "q": str(version)}


def test_odk_versions_are_ordered_by_updated_at(session: Session, form_id: int) -> None:
    reviewed = odk_record(odk(1, "2026-05-04T08:00:00.000Z", "approved"))
    first = odk_record(odk(1, None))
    upsert_records(session, form_id, [reviewed], run_id=None, source="poll")
    assert upsert_records(session, form_id, [first], run_id=None, source="hook").stale == 1
    earlier = odk_record(odk(1, "2026-05-04T07:00:00.000Z", "hasIssues"))
    assert upsert_records(session, form_id, [earlier], run_id=None, source="poll").stale == 1
    later = odk_record(odk(1, "2026-05-04T09:00:00.000Z", "rejected"))
    assert upsert_records(session, form_id, [later], run_id=None, source="hook").changed == 1
    session.commit()
    assert session.exec(select(Submission.review_state)).one() == "rejected"
