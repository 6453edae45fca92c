"""Response models of the API: what consumers can rely on, independent of the table layout."""

import datetime as dt
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from catalogue.model import Text

Item = TypeVar("Item")


class Page(BaseModel, Generic[Item]):
    """Every list answer: the items asked for and the total that match."""

    items: list[Item]
    total: int


class FiguresPage(Page[Item], Generic[Item]):
    """A list of figures, saying whether they were computed from demo data."""

    demo: bool = False
    """True while `sera demo` synthetic submissions are loaded: these figures are not the programme's."""


class RevisionOut(BaseModel):
    date: dt.date
    reason: str
    rationale: str


class ResultOut(BaseModel):
    code: str
    level: str
    title: Text
    description: Text | None = None
    assumptions: list[Text] = []
    risks: list[dict[str, Any]] = []
    indicators: list[str] = []
    children: list["ResultOut"] = []


class IndicatorSummary(BaseModel):
    code: str
    result: str
    name: Text
    measure_type: str
    direction: str
    frequency: str
    time_aggregation: str
    unit: Text
    form: str
    disaggregations: list[str]
    version: int


class TargetOut(BaseModel):
    period: str
    value: float
    by: dict[str, str] = {}


class HistoryEntry(BaseModel):
    version: int
    revision: RevisionOut
    loaded_at: dt.datetime | None
    changed: list[str]
    """Fields that differ from the previous version (all of them for the first)."""
    targets: list[TargetOut]
    retired: bool = False


class IndicatorDetail(IndicatorSummary):
    definition: Text
    data_source: Text
    collection_method: Text
    responsible: Text
    baseline: dict[str, Any]
    targets: list[TargetOut]
    references: list[dict[str, Any]]
    measure: dict[str, Any]
    revision: RevisionOut
    history: list[HistoryEntry]
