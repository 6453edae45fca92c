"""Kobo REST Service deliveries: stored at once, idempotently. Polling and reconciliation stay the truth.

Kobo fires a hook on creation only, retries on failure and may deliver twice; a duplicate is harmless because
the store leaves identical content alone, a replay of an older version or of a deleted submission is left out
(`sync.store`: a push never moves data backwards), and anything a hook misses the next pull finds.
"""

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from sera.db import session_scope
from sync.connections import ConnectionProblem, get_connection, hook_secret_matches
from sync.http import MalformedResponse
from sync.normalize import kobo_record
from sync.store import upsert_records
from sync.tables import Connection, RemoteForm


@dataclass
class HookRejected(Exception):
    """A delivery we refuse, with the status Kobo's delivery log will show."""

    status: int
    code: str
    detail: str


def authorize_delivery(engine: Engine, connection_name: str, presented_secret: str | None) -> None:
    """Refuse a delivery to an unknown or non-Kobo connection, or without the right secret: checked before the
    body is read, so an unauthenticated sender costs one indexed lookup whatever it sends."""
    with session_scope(engine) as session:
        _authorized_connection(session, connection_name, presented_secret)


def parse_delivery(body: bytes) -> Any:
    """The delivery's JSON (CPU work: the API runs it off the event loop)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as error:
        raise HookRejected(400, "bad_payload", f"the body is not JSON: {type(error).__name__}") from None


def _authorized_connection(session: Session, connection_name: str, presented_secret: str | None) -> Connection:
    try:
        connection = get_connection(session, connection_name)
    except ConnectionProblem:
        raise HookRejected(404, "not_found", f"no connection '{connection_name}'") from None
    if connection.platform != "kobo":
        raise HookRejected(404, "not_found", f"connection '{connection_name}' is not a Kobo connection")
    if not hook_secret_matches(connection, presented_secret):
        raise HookRejected(401, "unauthorized", "missing or wrong X-Sera-Hook-Secret header")
    return connection


def receive_kobo_delivery(engine: Engine, connection_name: str, presented_secret: str | None, payload: Any) -> str:
    """Store one delivered submission; returns `new`, `changed`, `unchanged`, or `stale` when the store holds a
    newer version or the submission was deleted (a replay never moves data backwards)."""
    with session_scope(engine) as session:
        connection = _authorized_connection(session, connection_name, presented_secret)
        if not isinstance(payload, dict):
            raise HookRejected(400, "bad_payload", "a delivery is one submission as a JSON object")
        try:
            record = kobo_record(payload)
        except MalformedResponse as error:
            raise HookRejected(400, "bad_payload", str(error)) from None
        asset = record.data.get("_xform_id_string")  # as stored: quoting it back can never fail to encode
        remote = (
            session.exec(
                select(RemoteForm).where(RemoteForm.connection_id == connection.id, RemoteForm.remote_id == asset)
            ).first()
            if isinstance(asset, str)
            else None
        )
        if remote is None or remote.id is None:
            raise HookRejected(
                404, "not_found", f"asset '{asset}' is not a form deployed or linked on '{connection_name}'"
            )
        counts = upsert_records(session, remote.id, [record], run_id=None, source="hook")
    if counts.new or counts.changed:
        return "new" if counts.new else "changed"
    return "stale" if counts.stale else "unchanged"
