"""From a platform's submission JSON to the columns the store keeps: one shape for Kobo and ODK Central.

The raw JSON is kept whole; these columns exist to find, order and compare submissions without parsing it.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from catalogue.store import canonical_hash
from sync.http import MalformedResponse


@dataclass(frozen=True)
class Record:
    """A submission as one page gave it, ready to be stored."""

    remote_id: str
    root_id: str
    remote_seq: int | None
    instance_id: str | None
    form_version: str | None
    submitted_at: dt.datetime | None
    updated_at: dt.datetime | None
    device_start: str | None
    device_end: str | None
    review_state: str | None
    data: dict[str, Any]
    content_hash: str


def parse_server_time(value: Any) -> dt.datetime | None:
    """Server timestamps: Kobo `2026-05-03T06:20:11` (UTC, no offset), ODK `…T22:33:48.189Z`."""
    if value in (None, ""):
        return None
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)[:128]


def kobo_record(row: dict[str, Any]) -> Record:
    """A Kobo data row; `meta/rootUuid` is stable across edits, `_id` too, `_uuid` changes on each edit."""
    try:
        seq = int(row["_id"])
    except (KeyError, TypeError, ValueError) as error:
        raise MalformedResponse(f"a submission has no integer _id: {str(row)[:200]}", platform="kobo") from error
    status = row.get("_validation_status") or {}
    root = (
        row.get("meta/rootUuid") or row.get("meta/instanceID") or (f"uuid:{row['_uuid']}" if row.get("_uuid") else None)
    )
    try:
        submitted = parse_server_time(row.get("_submission_time"))
    except ValueError as error:
        raise MalformedResponse(f"submission {seq} has a bad _submission_time", platform="kobo") from error
    return Record(
        remote_id=str(seq),
        root_id=str(root or seq),
        remote_seq=seq,
        instance_id=_text(row.get("meta/instanceID")),
        form_version=_text(row.get("__version__")),
        submitted_at=submitted,
        updated_at=None,
        device_start=_text(row.get("start")),
        device_end=_text(row.get("end")),
        review_state=_text(status.get("uid")) if isinstance(status, dict) else None,
        data=row,
        content_hash=canonical_hash(row),
    )


def odk_record(row: dict[str, Any]) -> Record:
    """An ODK Central OData row; `__id` is the first instanceID and never changes."""
    system = row.get("__system")
    if not isinstance(row.get("__id"), str) or not isinstance(system, dict):
        raise MalformedResponse(f"a submission has no __id or __system: {str(row)[:200]}", platform="odk")
    meta = row.get("meta") if isinstance(row.get("meta"), dict) else {}
    try:
        submitted = parse_server_time(system.get("submissionDate"))
        updated = parse_server_time(system.get("updatedAt"))
    except ValueError as error:
        raise MalformedResponse(f"submission {row['__id']} has a bad server time", platform="odk") from error
    return Record(
        remote_id=row["__id"],
        root_id=row["__id"],
        remote_seq=None,
        instance_id=_text(meta.get("instanceID")) or row["__id"],
        form_version=_text(system.get("formVersion")),
        submitted_at=submitted,
        updated_at=updated,
        device_start=_text(row.get("start")),
        device_end=_text(row.get("end")),
        review_state=_text(system.get("reviewState")),
        data=row,
        content_hash=canonical_hash(row),
    )
