"""The issued reports: one row per issue, its content frozen as JSON."""

import datetime as dt
from typing import Any

from sqlalchemy import JSON, UniqueConstraint
from sqlmodel import Field, SQLModel

from catalogue.tables import UtcDateTime, utcnow


class ReportIssue(SQLModel, table=True):
    """An issued report: what it said when it was issued, whatever the values say since.

    A quarter's report may be issued again (a corrected issue, `number` 2, 3 …); readers get the latest unless
    they ask for an earlier one.
    """

    __tablename__ = "report_issue"
    __table_args__ = (UniqueConstraint("kind", "period", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(default="quarterly", max_length=32)
    period: str = Field(max_length=8, index=True)
    number: int
    issued_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    issued_by: str = Field(max_length=128)
    restatements: int = 0
    content_hash: str = Field(max_length=64)
    content: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
