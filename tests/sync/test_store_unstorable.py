"""One odd value never blocks a form: values longer than any column used to allow, ids beyond 64 bits, root ids
too long for an index, NUL characters. Every row is stored, the raw JSON as the server sent it wherever a
database can hold it, and what could not be kept as sent is a data quality finding (`unstorable_value`)."""

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from analysis.quality import quality_findings
from catalogue.model import Catalogue
from sync.normalize import BEYOND_INT64, ESCAPED, LONG_KEY
from sync.tables import Submission
from tests.worlds import KoboWorld, OdkWorld, add_people

LONG = "x" * 100
"""Longer than the 64 characters `start` and review states had."""


def by_remote_id(engine: Engine) -> dict[str, Submission]:
    with Session(engine) as session:
        return {row.remote_id: row for row in session.exec(select(Submission))}


def quarter(moment: dt.datetime) -> str:
    return f"{moment.year}Q{(moment.month - 1) // 3 + 1}"


def findings(engine: Engine, catalogue: Catalogue) -> list[tuple[str, tuple[str, ...], str]]:
    with Session(engine) as session:
        period = quarter(dt.datetime.now(dt.UTC))
        found = quality_findings(session, catalogue, period)
    return [(f.form_id or "", f.submissions, f.message.fr) for f in found if f.check == "unstorable_value"]


def test_kobo_odd_values_never_block_a_page(kobo_world: KoboWorld, minimal_catalogue: Catalogue) -> None:
    fake, asset = kobo_world.fake, kobo_world.asset
    add_people(fake, asset, 3)
    [long_start, long_review, long_root, nul] = add_people(fake, asset, 4, start="2026-05-04T08:00:00" + LONG)
    with fake.lock:
        records = fake.assets[asset].records
        records[long_review["_id"]]["_validation_status"] = {"uid": "validation_status_" + LONG, "timestamp": 1}
        records[long_root["_id"]]["meta/rootUuid"] = "uuid:" + secrets.token_hex(1500)
        records[nul["_id"]]["sex"] = "fe\x00male"
        fake._next_id = 2**63  # the server's next `_id` does not fit a 64-bit integer
    [huge] = add_people(fake, asset, 1)
    run = kobo_world.sync(full=True)
    assert (run.status, run.error, run.rows_new) == ("success", None, 8)
    server = {str(row["_id"]): row for row in fake.submissions(asset)}
    server[str(nul["_id"])]["sex"] = "fe\\u0000male"  # NUL: no PostgreSQL text can hold it, kept escaped
    stored = by_remote_id(kobo_world.engine)
    assert {remote_id: row.data for remote_id, row in stored.items()} == server  # else the raw JSON, as sent
    assert stored[str(long_start["_id"])].device_start == "2026-05-04T08:00:00" + LONG
    assert stored[str(long_review["_id"])].review_state == "validation_status_" + LONG
    assert (stored[str(huge["_id"])].remote_id, stored[str(huge["_id"])].remote_seq) == (str(2**63), None)
    assert stored[str(long_root["_id"])].root_id.startswith("sha256:")
    assert {remote_id: row.unstorable for remote_id, row in stored.items() if row.unstorable} == {
        str(long_root["_id"]): {"meta/rootUuid": LONG_KEY},
        str(huge["_id"]): {"_id": BEYOND_INT64},
        str(nul["_id"]): {"sex": ESCAPED},
    }
    again = kobo_world.sync(full=True)
    assert (again.status, again.rows_new, again.rows_changed, again.rows_deleted) == ("success", 0, 0, 0)
    [(form_id, ids, message)] = findings(kobo_world.engine, minimal_catalogue)
    assert (form_id, set(ids)) == ("attendance", {str(long_root["_id"]), str(huge["_id"]), str(nul["_id"])})
    assert "meta/rootUuid" in message and "_id" in message and "sex" in message


def test_odk_odd_values_never_block_a_page(odk_world: OdkWorld, minimal_catalogue: Catalogue) -> None:
    odk_world.add(2)
    [nul] = odk_world.add(1, name="P\x00")
    long_id = "uuid:" + secrets.token_hex(1500)
    odk_world.fake.add_submission(odk_world.project, odk_world.form_id, {"name": "Q", "age": 30}, instance_id=long_id)
    run = odk_world.sync(full=True)
    assert (run.status, run.error, run.rows_new) == ("success", None, 4)
    stored = by_remote_id(odk_world.engine)
    server = odk_world.server_rows()
    server[nul["__id"]]["name"] = "P\\u0000"
    assert {remote_id: row.data for remote_id, row in stored.items()} == server
    assert (stored[long_id].root_id[:7], stored[long_id].instance_id) == ("sha256:", long_id)
    assert {remote_id: row.unstorable for remote_id, row in stored.items() if row.unstorable} == {
        long_id: {"__id": LONG_KEY},
        nul["__id"]: {"name": ESCAPED},
    }
    again = odk_world.sync(full=True)
    assert (again.status, again.rows_new, again.rows_changed, again.rows_deleted) == ("success", 0, 0, 0)
    [(_form, ids, _message)] = findings(odk_world.engine, minimal_catalogue)
    assert set(ids) == {long_id, nul["__id"]}


def test_a_nul_or_lone_surrogate_is_stored_escaped_and_found(
    session: Session, minimal_catalogue: Catalogue, kobo_world: KoboWorld
) -> None:
    """What PostgreSQL cannot hold at all (NUL, lone surrogates: its JSON functions refuse them) is escaped."""
    from sync.normalize import kobo_record
    from sync.store import upsert_records
    from sync.tables import RemoteForm

    remote = session.exec(select(RemoteForm)).one()
    assert remote.id is not None
    sent: dict[str, Any] = {
        "_id": 5,
        "meta/instanceID": "uuid:s\ud800",
        "meta/rootUuid": "uuid:s\ud800",
        "start": "2026\x00",
        "bad\udfffkey": "ok",
        "_submission_time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
    }
    upsert_records(session, remote.id, [kobo_record(sent)], run_id=None, source="poll")
    session.commit()
    row = session.exec(select(Submission)).one()
    assert (row.root_id, row.device_start) == ("uuid:s\\ud800", "2026\\u0000")
    assert row.data["bad\\udfffkey"] == "ok"
    assert row.unstorable == {
        "meta/instanceID": ESCAPED,
        "meta/rootUuid": ESCAPED,
        "start": ESCAPED,
        "bad\\udfffkey": ESCAPED,
    }
    [(_form, ids, message)] = findings(kobo_world.engine, minimal_catalogue)
    assert ids == ("5",) and "\\uXXXX" in message
