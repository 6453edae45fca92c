"""SQL tables of the catalogue: every entity is versioned, never overwritten.

Each versioned table keeps one row per version of an entity (result, dimension, choice list, indicator, form,
programme). A new version is written when the entity's content changes, with the date, reason and rationale the
catalogue gives; the previous row stays, with `current` set to false. `content` keeps the entity exactly as the
catalogue wrote it (the exporters read it); the other columns are there to be queried.
"""

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, MetaData, Text, TypeDecorator, UniqueConstraint
from sqlmodel import Field, SQLModel

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always read back timezone-aware, on SQLite (which keeps no zone) as on
    PostgreSQL, so code and API never meet a naive datetime."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: timestamps must carry a timezone")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class CatalogueLoad(SQLModel, table=True):
    """One load of a catalogue file that changed something; loads that change nothing leave no row."""

    __tablename__ = "catalogue_load"

    id: int | None = Field(default=None, primary_key=True)
    programme_code: str = Field(max_length=64, index=True)
    loaded_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    source: str = Field(max_length=1024)
    content_hash: str = Field(max_length=64)
    revision_date: dt.date
    revision_reason: str = Field(max_length=32)
    revision_rationale: str = Field(sa_type=Text)
    versions_written: int = 0


class Versioned(SQLModel):
    """Columns every versioned entity has."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, index=True)
    version: int
    current: bool = Field(default=True, index=True)
    retired: bool = False
    """A version that records the entity's removal from the catalogue."""
    position: int = 0
    """Order in the catalogue file, kept so exports read like the original."""
    content_hash: str = Field(max_length=64)
    content: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    revision_date: dt.date
    revision_reason: str = Field(max_length=32)
    revision_rationale: str = Field(sa_type=Text)
    load_id: int = Field(foreign_key="catalogue_load.id", index=True)


class ProgrammeVersion(Versioned, table=True):
    __tablename__ = "programme_version"
    __table_args__ = (UniqueConstraint("code", "version"),)

    title_fr: str = Field(max_length=500)
    title_ar: str = Field(max_length=500)
    start: dt.date
    end: dt.date


class Period(SQLModel, table=True):
    """The programme's reporting periods, derived from its first and last quarter."""

    __tablename__ = "period"

    code: str = Field(primary_key=True, max_length=8)
    kind: str = Field(max_length=8)
    start: dt.date
    end: dt.date
    position: int


class ResultVersion(Versioned, table=True):
    __tablename__ = "result_version"
    __table_args__ = (UniqueConstraint("code", "version"),)

    level: str = Field(max_length=16)
    parent_code: str | None = Field(default=None, max_length=64)
    title_fr: str = Field(default="", sa_type=Text)
    title_ar: str = Field(default="", sa_type=Text)


class DimensionVersion(Versioned, table=True):
    __tablename__ = "dimension_version"
    __table_args__ = (UniqueConstraint("code", "version"),)

    name_fr: str = Field(default="", max_length=200)
    name_ar: str = Field(default="", max_length=200)
    parent_code: str | None = Field(default=None, max_length=64)
    reference: str | None = Field(default=None, max_length=64)
    sensitive: bool = False


class DimensionValueRow(SQLModel, table=True):
    """A value of one dimension version, reference sets expanded, so SQL can join facts to labels."""

    __tablename__ = "dimension_value"
    __table_args__ = (UniqueConstraint("dimension_version_id", "code"),)

    id: int | None = Field(default=None, primary_key=True)
    dimension_version_id: int = Field(foreign_key="dimension_version.id", index=True)
    code: str = Field(max_length=64)
    label_fr: str = Field(max_length=300)
    label_ar: str = Field(max_length=300)
    parent_code: str | None = Field(default=None, max_length=64)
    position: int
    attributes: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class ChoiceListVersion(Versioned, table=True):
    __tablename__ = "choice_list_version"
    __table_args__ = (UniqueConstraint("code", "version"),)


class IndicatorVersion(Versioned, table=True):
    __tablename__ = "indicator_version"
    __table_args__ = (UniqueConstraint("code", "version"),)

    result_code: str = Field(default="", max_length=64, index=True)
    name_fr: str = Field(default="", sa_type=Text)
    name_ar: str = Field(default="", sa_type=Text)
    measure_type: str = Field(default="", max_length=16)
    direction: str = Field(default="", max_length=16)
    frequency: str = Field(default="", max_length=16)
    time_aggregation: str = Field(default="", max_length=16)
    baseline_value: float | None = None
    baseline_numerator: float | None = None
    baseline_denominator: float | None = None
    baseline_date: dt.date | None = None
    measure_form: str = Field(default="", max_length=64, index=True)
    measure_aggregation: str = Field(default="", max_length=16)


class IndicatorTarget(SQLModel, table=True):
    __tablename__ = "indicator_target"
    __table_args__ = (UniqueConstraint("indicator_version_id", "period_code", "split"),)

    id: int | None = Field(default=None, primary_key=True)
    indicator_version_id: int = Field(foreign_key="indicator_version.id", index=True)
    period_code: str = Field(max_length=8)
    split: str = Field(default="", max_length=200)
    """The dimension split as `dim=value;dim=value` (sorted), empty for the overall target."""
    by: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    value: float


class IndicatorDisaggregation(SQLModel, table=True):
    __tablename__ = "indicator_disaggregation"
    __table_args__ = (UniqueConstraint("indicator_version_id", "dimension_code"),)

    id: int | None = Field(default=None, primary_key=True)
    indicator_version_id: int = Field(foreign_key="indicator_version.id", index=True)
    dimension_code: str = Field(max_length=64)
    position: int


class IndicatorReference(SQLModel, table=True):
    __tablename__ = "indicator_reference"

    id: int | None = Field(default=None, primary_key=True)
    indicator_version_id: int = Field(foreign_key="indicator_version.id", index=True)
    vocabulary: str = Field(max_length=16)
    code: str = Field(max_length=64)
    uri: str | None = Field(default=None, max_length=500)


class FormVersion(Versioned, table=True):
    """A form spec as the catalogue wrote it; the generated XLSForm's own version lives with the build."""

    __tablename__ = "form_version"
    __table_args__ = (UniqueConstraint("code", "version"),)

    title_fr: str = Field(default="", max_length=300)
    title_ar: str = Field(default="", max_length=300)
    audience: str = Field(default="", max_length=32)
