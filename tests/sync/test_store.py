"""The submission store: keyed by root id; edits replace, duplicates are harmless, deletions are tombstones."""

import pytest
from sqlmodel import Session, select

from sync.connections import ConnectionSpec, add_connection, link_form
from sync.normalize import kobo_record
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
