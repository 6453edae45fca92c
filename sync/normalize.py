"""From a platform's submission JSON to the columns the store keeps: one shape for Kobo and ODK Central.

The raw JSON is kept whole; these columns exist to find, order and compare submissions without parsing it.
"""

import datetime as dt
import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import Any

from catalogue.store import canonical_hash
from sync.http import MalformedResponse

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
ROOT_ID_MAX = 600
"""Characters a root id may have and still be an index key: PostgreSQL's btree takes about 2,700 bytes a key,
and a character is at most 4 bytes. A longer one is stored under a digest (the raw JSON keeps it whole)."""
MAX_NOTES = 20
"""At most this many unstorable fields noted on one submission."""
UNSAFE_TEXT = re.compile("[\x00\ud800-\udfff]")
"""What no PostgreSQL text or JSON value can hold: NUL, and UTF-16 surrogates (in a Python string parsed from
JSON, a surrogate is always a lone one: pairs are joined)."""

ESCAPED = "escaped_text"
"""A text with NUL or a lone UTF-16 surrogate, stored with those characters written as `\\uXXXX`."""
NOT_FINITE = "not_finite"
"""A NaN or infinite number (JSON has none; Python's parser accepts them), stored as the text the server sent."""
BEYOND_INT64 = "beyond_int64"
"""An id outside a 64-bit integer: kept as text, without its number column."""
LONG_KEY = "long_key"
"""A root id too long to be an index key: stored under `sha256:<hex>` of it."""
BAD_TIME = "bad_time"
"""A server time that is no date and time: its column stays empty, the raw JSON keeps the text as sent."""


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
    deprecated_id: str | None = None
    """The instanceID this version replaced (`meta/deprecatedID`), None for a first version."""
    unstorable: dict[str, str] = field(default_factory=dict)
    """Fields that could not be stored as sent (path → ESCAPED, NOT_FINITE, BEYOND_INT64, LONG_KEY or BAD_TIME)."""


def parse_server_time(value: Any) -> dt.datetime | None:
    """Server timestamps: Kobo `2026-05-03T06:20:11` (UTC, no offset), ODK `…T22:33:48.189Z`."""
    if value in (None, ""):
        return None
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def read_server_time(value: Any) -> dt.datetime | None:
    """A server time, or None when there is none or it is no time: a cursor moves only on times that parse,
    and one row's odd value never stops the others."""
    try:
        return parse_server_time(value)
    except (ValueError, OverflowError):
        return None


def _server_time(value: Any, path: str, notes: dict[str, str]) -> dt.datetime | None:
    """A row's server time for its column; a value that is no time leaves the column empty and is noted."""
    parsed = read_server_time(value)
    if parsed is None and value not in (None, ""):
        _note(notes, path, BAD_TIME)
    return parsed


def _escape(text: str) -> str:
    return UNSAFE_TEXT.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def _note(notes: dict[str, str], path: str, reason: str) -> None:
    if len(notes) < MAX_NOTES:
        notes.setdefault(path or "/", reason)


def _storable(value: Any, path: str, notes: dict[str, str]) -> Any:
    """The value with what a database cannot hold made storable; the same object when nothing had to change."""
    if isinstance(value, str):
        if UNSAFE_TEXT.search(value) is None:
            return value
        _note(notes, path, ESCAPED)
        return _escape(value)
    if isinstance(value, float) and not math.isfinite(value):
        _note(notes, path, NOT_FINITE)
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        changed = False
        cleaned: dict[Any, Any] = {}
        for key, item in value.items():
            name = key
            if isinstance(key, str) and UNSAFE_TEXT.search(key) is not None:
                name = _escape(key)
                _note(notes, f"{path}/{name}" if path else name, ESCAPED)
            inner = _storable(item, f"{path}/{name}" if path else str(name), notes)
            changed = changed or name is not key or inner is not item
            cleaned[name] = inner
        return cleaned if changed else value
    if isinstance(value, list):
        items = [_storable(item, path, notes) for item in value]
        return items if any(new is not old for new, old in zip(items, value, strict=True)) else value
    return value


def storable(row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The row as a database can keep it, and the fields that had to change (path → reason).

    Everything else is kept exactly as sent; a field is changed only where PostgreSQL would refuse the whole
    row (and with it the page): NUL and lone surrogates are written as `\\uXXXX` text, NaN and infinities as text.
    """
    notes: dict[str, str] = {}
    return _storable(row, "", notes), notes


def root_key(root: str) -> str:
    """The key the store keeps a submission under: its root id, or a digest of it when it is too long to be an
    index key; written storable first (as `storable` writes it). Every lookup of a server's id in the store goes
    through here, so that an escaped or digest-keyed row is found under the key it was stored with."""
    key = _escape(root)
    if len(key) <= ROOT_ID_MAX:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def _root_key(root: str, field_name: str, notes: dict[str, str]) -> str:
    key = root_key(root)
    if len(root) > ROOT_ID_MAX:
        _note(notes, field_name, LONG_KEY)
    return key


def kobo_root(row: dict[str, Any]) -> str:
    """A Kobo row's root id as sent (stable across edits): `meta/rootUuid`, else its first instanceID, else `_id`."""
    root = (
        row.get("meta/rootUuid") or row.get("meta/instanceID") or (f"uuid:{row['_uuid']}" if row.get("_uuid") else None)
    )
    return str(root) if root else str(int(row["_id"]))


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _seq(value: int, notes: dict[str, str]) -> int | None:
    if INT64_MIN <= value <= INT64_MAX:
        return value
    _note(notes, "_id", BEYOND_INT64)
    return None


def kobo_record(sent: dict[str, Any]) -> Record:
    """A Kobo data row; `meta/rootUuid` is stable across edits, `_id` too, `_uuid` changes on each edit."""
    row, notes = storable(sent)  # first: an error message quoting the row must be storable text too
    try:
        seq = int(row["_id"])
    except (KeyError, TypeError, ValueError, OverflowError) as error:
        raise MalformedResponse(f"a submission has no integer _id: {str(row)[:200]}", platform="kobo") from error
    status = row.get("_validation_status") or {}
    submitted = _server_time(row.get("_submission_time"), "_submission_time", notes)
    return Record(
        remote_id=str(seq),
        root_id=_root_key(kobo_root(row), "meta/rootUuid", notes),
        remote_seq=_seq(seq, notes),
        instance_id=_text(row.get("meta/instanceID")),
        form_version=_text(row.get("__version__")),
        submitted_at=submitted,
        updated_at=None,
        device_start=_text(row.get("start")),
        device_end=_text(row.get("end")),
        review_state=_text(status.get("uid")) if isinstance(status, dict) else None,
        data=row,
        content_hash=canonical_hash(row),
        deprecated_id=_text(row.get("meta/deprecatedID")),
        unstorable=notes,
    )


def odk_record(sent: dict[str, Any]) -> Record:
    """An ODK Central OData row; `__id` is the first instanceID and never changes."""
    row, notes = storable(sent)  # first: an error message quoting the row must be storable text too
    system = row.get("__system")
    if not isinstance(row.get("__id"), str) or not isinstance(system, dict):
        raise MalformedResponse(f"a submission has no __id or __system: {str(row)[:200]}", platform="odk")
    meta = row.get("meta") if isinstance(row.get("meta"), dict) else {}
    submitted = _server_time(system.get("submissionDate"), "__system/submissionDate", notes)
    updated = _server_time(system.get("updatedAt"), "__system/updatedAt", notes)
    return Record(
        remote_id=row["__id"],
        root_id=_root_key(row["__id"], "__id", notes),
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
        deprecated_id=_text(meta.get("deprecatedID")),
        unstorable=notes,
    )
