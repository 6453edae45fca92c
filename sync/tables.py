"""SQL tables of the sync layer: connections, deployed forms with their cursors, submissions, sync runs."""

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Field, SQLModel

from catalogue.tables import UtcDateTime, utcnow


class ChangeStamp(FunctionElement[int]):
    """What every write of a submission stamps in `change_seq`, so a reader can tell exactly what it has not seen.

    PostgreSQL: the writing transaction's id (`pg_current_xact_id`); a reader's snapshot says which of those had
    committed when it looked (`analysis.changes`). SQLite: one more than the highest stamp (writers are serial).
    """

    type = BigInteger()
    inherit_cache = True


@compiles(ChangeStamp)
def _serial_stamp(_element: ChangeStamp, _compiler: object, **_kw: object) -> str:
    return "(SELECT COALESCE(MAX(change_seq), 0) + 1 FROM submission)"


@compiles(ChangeStamp, "postgresql")
def _transaction_stamp(_element: ChangeStamp, _compiler: object, **_kw: object) -> str:
    return "CAST(CAST(pg_current_xact_id() AS TEXT) AS BIGINT)"


class Connection(SQLModel, table=True):
    """A Kobo or ODK Central account. Secrets live in an environment variable, or encrypted, never in clear."""

    __tablename__ = "connection"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    platform: str = Field(max_length=8)
    """`kobo` or `odk`."""
    url: str = Field(max_length=500)
    project_id: int | None = None
    """ODK Central project."""
    email: str | None = Field(default=None, max_length=254)
    """ODK Central account."""
    secret_env: str | None = Field(default=None, max_length=128)
    """The environment variable that holds the API token (Kobo) or the password (ODK)."""
    secret_encrypted: str | None = Field(default=None, sa_type=Text)
    """The secret, encrypted with SERA_SECRET_KEY, when it was typed in instead of read from the environment."""
    hook_secret_hash: str | None = Field(default=None, max_length=128)
    """SHA-256 of the shared secret Kobo REST Services send to the webhook."""
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class RemoteForm(SQLModel, table=True):
    """One catalogue form on one server: its remote id, what was deployed, and where the pull stands."""

    __tablename__ = "remote_form"
    __table_args__ = (
        UniqueConstraint("connection_id", "form_id"),
        UniqueConstraint("connection_id", "remote_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    connection_id: int = Field(foreign_key="connection.id", index=True)
    form_id: str = Field(max_length=64)
    """The catalogue's form id."""
    remote_id: str = Field(max_length=128)
    """Kobo asset uid, or ODK Central xmlFormId."""
    deployed_version: str | None = Field(default=None, max_length=64)
    deployed_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    remote_state: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    """Platform details of the deployment (Kobo version ids, media hashes, ODK app user)."""
    cursor: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    """Pull position (server times and ids only), written in the same transaction as the page it covers."""
    last_success_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    last_reconciled_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)


class Submission(SQLModel, table=True):
    """One logical submission (all its edits), as the server last gave it, raw JSON kept whole."""

    __tablename__ = "submission"
    __table_args__ = (
        UniqueConstraint("remote_form_id", "root_id"),
        Index("ix_submission_form_seq", "remote_form_id", "remote_seq"),
        Index("ix_submission_form_changed", "remote_form_id", "changed_at"),
        Index("ix_submission_change_seq", "change_seq", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    remote_form_id: int = Field(foreign_key="remote_form.id")
    remote_id: str = Field(sa_type=Text)
    """Kobo `_id` (as text), ODK `__id`. Text columns hold what the server sent, however long: a length limit here
    would protect nothing and make one odd value fail its whole page."""
    remote_seq: int | None = Field(default=None, sa_type=BigInteger)
    """Kobo `_id` as a number, for keyset scans; null for ODK, and for an `_id` outside a 64-bit integer."""
    root_id: str = Field(sa_type=Text)
    """Stable across edits: Kobo `meta/rootUuid`, ODK `__id` (a digest of it when too long for an index key)."""
    instance_id: str | None = Field(default=None, sa_type=Text)
    """The current version's instanceID."""
    deprecated_id: str | None = Field(default=None, sa_type=Text)
    """The instanceID this version replaced (`meta/deprecatedID`): how a push is known to be newer or older."""
    form_version: str | None = Field(default=None, sa_type=Text)
    submitted_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    """Server receive time of the first version."""
    updated_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    """Server time of the last change (ODK `updatedAt`; Kobo has none)."""
    device_start: str | None = Field(default=None, sa_type=Text)
    device_end: str | None = Field(default=None, sa_type=Text)
    review_state: str | None = Field(default=None, sa_type=Text)
    content_hash: str = Field(max_length=64)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    deleted: bool = Field(default=False)
    deleted_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    first_seen_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    changed_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    """Local time of the last stored change, for people; indicator computation follows `change_seq`."""
    change_seq: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=False, default=ChangeStamp(), onupdate=ChangeStamp())
    )
    """Stamped on every insert and update (`ChangeStamp`): how incremental indicator computation finds exactly
    what changed, whatever the clocks say and however transactions overlap."""
    source: str = Field(default="poll", max_length=16)
    """`poll`, `reconcile` or `hook`: how the current content arrived."""
    last_run_id: int | None = Field(default=None, foreign_key="sync_run.id")
    reconcile_mark: int | None = None
    """Id of the last reconciliation that saw this submission on the server."""
    unstorable: dict[str, str] | None = Field(default=None, sa_type=JSON(none_as_null=True))
    """What the server sent that could not be stored as sent (field → reason): the `unstorable_value` check."""


class SyncRun(SQLModel, table=True):
    """One pull of one form: what it did, how it ended. Written as it goes, so a crash leaves its traces."""

    __tablename__ = "sync_run"
    __table_args__ = (
        # The lock on a form: at most one `running` run each. Inserting a run is the claim (sync/runs.py).
        Index(
            "ux_sync_run_running_form",
            "remote_form_id",
            unique=True,
            sqlite_where=text("status = 'running'"),
            postgresql_where=text("status = 'running'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    connection_id: int = Field(foreign_key="connection.id", index=True)
    remote_form_id: int | None = Field(default=None, foreign_key="remote_form.id", index=True)
    mode: str = Field(max_length=16)
    """`incremental`, `full` or `hook`."""
    status: str = Field(default="running", max_length=16, index=True)
    """`running`, `success`, `failed` or `abandoned` (its process died)."""
    started_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    heartbeat_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    worker: str = Field(default="", max_length=200)
    """`host:pid` of the process running it, so a crashed run on this host is seen at once."""
    finished_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    pages: int = 0
    rows_new: int = 0
    rows_changed: int = 0
    rows_unchanged: int = 0
    rows_deleted: int = 0
    retries: int = 0
    error: str | None = Field(default=None, sa_type=Text)
