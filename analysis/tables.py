"""SQL tables of the indicator engine: typed facts, per-indicator inputs, indicator values, compute state.

The chain is submission → facts (typed answers, one row per submission and per needed repeat instance) →
inputs (one row per fact row and indicator it feeds, with the indicator's filters already applied and its
disaggregation values in fixed columns) → values (one row per indicator, period and disaggregation cell).
Inputs exist so that every aggregation is a plain GROUP BY in SQL, the same on SQLite and PostgreSQL, with no
JSON path or filter language to translate; they are rebuilt with the facts of the same submission.
"""

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Table, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from catalogue.tables import UtcDateTime, utcnow

MAX_DISAGGREGATIONS = 8
"""Disaggregation columns of an input row (`d1` … `d8`); PRIM 2's widest indicator has six."""


class Fact(SQLModel, table=True):
    """The typed answers of one submission (row_index 0) or one instance of a repeat it needs (1, 2, …).

    `values` holds only the answers the catalogue's measures and filters read, never a `pii` question; the
    person is present only as `person_key`, a keyed hash of the normalised identifiers.
    """

    __tablename__ = "analysis_fact"
    __table_args__ = (Index("ix_analysis_fact_form_period", "form_id", "period"),)

    id: int | None = Field(default=None, primary_key=True)
    submission_id: int = Field(foreign_key="submission.id", index=True, ondelete="CASCADE")
    remote_form_id: int = Field(foreign_key="remote_form.id", ondelete="CASCADE")
    form_id: str = Field(max_length=64)
    row_index: int
    repeat: str | None = Field(default=None, max_length=255)
    """The repeat this row is an instance of (its path, `group/repeat`); null for the submission row."""
    activity_date: dt.date | None = None
    period: str | None = Field(default=None, max_length=8)
    """The quarter of the activity date; null when the submission has no usable activity date."""
    person_key: str | None = Field(default=None, max_length=64)
    organisation: str | None = Field(default=None, max_length=64)
    dims: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    values: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    content_hash: str | None = Field(default=None, max_length=64)
    """On the submission row (row_index 0): the submission's content hash these facts were built from, so an
    incremental run skips a submission stamped again without new content (a reconciliation mark)."""


class IndicatorInput(SQLModel, table=True):
    """What one fact row gives one indicator: its two sides (numerator/denominator, pre/post, or one side).

    A side is a number (`*_value`: 1 for a count, the answer for a sum or mean) or a unit to count once
    (`*_unit`: a person key, a distinct answer, a pairing key for gains). `d1`… are the values of the
    indicator's disaggregations in catalogue order (`unknown` when the form gave none). Only rows that feed at
    least one side and whose period lies in the programme are stored.
    """

    __tablename__ = "analysis_input"
    __table_args__ = (
        Index("ix_analysis_input_indicator_period", "indicator", "period"),
        Index("ix_analysis_input_a_unit", "indicator", "a_unit"),
        Index("ix_analysis_input_b_unit", "indicator", "b_unit"),
    )
    """The unit indexes find every row of the few people (or other units) a change touches: an incremental run
    recounts distinct units and pairs gains from those rows alone."""

    id: int | None = Field(default=None, primary_key=True)
    indicator: str = Field(max_length=64)
    submission_id: int = Field(foreign_key="submission.id", index=True, ondelete="CASCADE")
    row_index: int
    period: str = Field(max_length=8)
    d1: str | None = Field(default=None, max_length=64)
    d2: str | None = Field(default=None, max_length=64)
    d3: str | None = Field(default=None, max_length=64)
    d4: str | None = Field(default=None, max_length=64)
    d5: str | None = Field(default=None, max_length=64)
    d6: str | None = Field(default=None, max_length=64)
    d7: str | None = Field(default=None, max_length=64)
    d8: str | None = Field(default=None, max_length=64)
    a_value: float | None = None
    a_unit: str | None = Field(default=None, max_length=80)
    b_value: float | None = None
    b_unit: str | None = Field(default=None, max_length=80)


class IndicatorValue(SQLModel, table=True):
    """One cell: an indicator's value for a period (`2026Q3` or `LOP`) and a disaggregation cell.

    `grouping` names the dimensions of the cell (`region,sex`; empty for the total) and `dims_key` their
    values (`region=02;sex=female`). Ratios keep numerator and denominator, means and gains their sum and
    count, so that nothing downstream ever averages percentages. `n` is the number of input rows behind the
    value. `computed_at` is when the cell last changed.

    `a_micros` … `b_units` are the cell's totals (`analysis.measures.Totals`): Σ values in millionths, how many
    values, how many distinct units, per side (a gain: Σ gains and pairs in side a). They are integers that add
    across rows, so an incremental run changes a cell by what its changed rows add or remove, never by
    re-reading all of them.
    """

    __tablename__ = "analysis_indicator_value"
    __table_args__ = (
        UniqueConstraint("indicator", "period", "dims_key"),
        Index("ix_analysis_indicator_value_grouping", "indicator", "grouping", "period"),
    )

    id: int | None = Field(default=None, primary_key=True)
    indicator: str = Field(max_length=64)
    period: str = Field(max_length=8)
    grouping: str = Field(default="", max_length=600)
    dims_key: str = Field(default="", max_length=1000)
    dims: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    value: float | None = None
    numerator: float | None = None
    denominator: float | None = None
    n: int = 0
    a_micros: int = Field(default=0, sa_type=BigInteger)
    a_count: int = 0
    a_units: int = 0
    b_micros: int = Field(default=0, sa_type=BigInteger)
    b_count: int = 0
    b_units: int = 0
    computed_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class ComputeState(SQLModel, table=True):
    """The one row that says where incremental computation stands."""

    __tablename__ = "analysis_compute_state"

    id: int | None = Field(default=None, primary_key=True)
    watermark: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    """When the last run started (kept for people: runs follow `change_mark`, not time)."""
    change_mark: str | None = Field(default=None, sa_type=Text)
    """Which submission writes the last run saw (`analysis.changes.Mark`); the next run reads the others."""
    fingerprint: str = Field(default="", max_length=64)
    """Hash of the catalogue, the engine version and the person key: when it changes, the next run is full."""
    last_run_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    last_full_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    last_mode: str = Field(default="", max_length=16)
    last_cells_changed: int = 0


class PersonKeySecret(SQLModel, table=True):
    """A generated person-key secret, kept only when SERA_PERSON_KEY_SECRET is not set (development)."""

    __tablename__ = "analysis_person_key_secret"

    id: int | None = Field(default=None, primary_key=True)
    secret: str = Field(max_length=128)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a model: bulk inserts go through it as one executemany, not the ORM's row-by-row path."""
    return model.__table__  # type: ignore[attr-defined,no-any-return]
