"""What a quarterly report says, as plain data: frozen as JSON when issued, written to XLSX on request.

Keeping the content apart from the workbook means an issued report is re-read with the numbers it had (the
figures are stored, not recomputed), a partner's copy is the same content filtered to its sheet, and
restatements compare figures, not spreadsheets.
"""

import datetime as dt
import math

from pydantic import BaseModel, ConfigDict

from analysis.quality import Finding
from catalogue.model import Text

PROGRAMME = "programme"
"""The scope of programme-wide lines; partner lines carry the partner's code."""


class Figure(BaseModel):
    """A reported number, with numerator and denominator for ratios and means; suppressed ones carry none."""

    model_config = ConfigDict(frozen=True)

    value: float | None = None
    numerator: float | None = None
    denominator: float | None = None
    suppressed: bool = False

    def same_as(self, other: "Figure | None") -> bool:
        """Whether a reader would see the same figure (values equal to 9 decimals, same suppression)."""
        if other is None:
            return self.value is None and not self.suppressed
        if self.suppressed or other.suppressed:
            return self.suppressed == other.suppressed
        return all(
            _close(mine, theirs)
            for mine, theirs in (
                (self.value, other.value),
                (self.numerator, other.numerator),
                (self.denominator, other.denominator),
            )
        )


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=0.0, abs_tol=1e-9)


class IttRow(BaseModel):
    """One line of a tracking table: an indicator's total (`split` empty) or one value of its sex split."""

    scope: str
    indicator: str
    result: str
    level: str
    name: Text
    unit: Text
    percentage: bool
    time_aggregation: str
    split: dict[str, str] = {}
    split_label: Text | None = None
    baseline: float | None = None
    period_target: float | None = None
    period: Figure | None = None
    period_achievement: float | None = None
    status: str = "no_data"
    to_date: Figure | None = None
    lop_target: float | None = None
    lop_achievement: float | None = None
    """To date against the life-of-programme target, direction-aware."""


class DisaggregationRow(BaseModel):
    """An indicator's value for one value of one of its required disaggregations."""

    indicator: str
    dimension: str
    dimension_name: Text
    code: str
    label: Text
    period: Figure | None = None
    to_date: Figure | None = None


class SeriesPoint(BaseModel):
    """An indicator's programme total in one quarter up to the report's, with the quarter's target (charts)."""

    indicator: str
    period: str
    actual: Figure | None = None
    target: float | None = None


class Restatement(BaseModel):
    """A figure of an issued report that the values of today no longer give."""

    report_period: str
    issue: int
    issued_at: dt.datetime
    scope: str
    indicator: str
    column: str
    """`period` (the quarter's actual) or `to_date`."""
    split: dict[str, str] = {}
    split_label: Text | None = None
    reported: Figure | None = None
    current: Figure | None = None


class Partner(BaseModel):
    code: str
    label: Text


class ReportContent(BaseModel):
    """Everything one quarterly report shows; `issue` and `issued_at` are None for a draft."""

    kind: str = "quarterly"
    period: str
    programme_code: str
    programme_title: Text
    donors: list[str] = []
    issue: int | None = None
    issued_at: dt.datetime | None = None
    generated_at: dt.datetime
    values_computed_at: dt.datetime | None = None
    catalogue_loaded_at: dt.datetime | None = None
    threshold: int
    partners: list[Partner] = []
    itt: list[IttRow] = []
    disaggregations: list[DisaggregationRow] = []
    series: list[SeriesPoint] = []
    findings: list[Finding] = []
    restatements: list[Restatement] = []
    scope: str = PROGRAMME
    """`programme` for the whole report, a partner's code for its copy."""
    demo: bool = False
    """Computed while `sera demo` synthetic data was loaded: the cover says so."""

    def for_partner(self, code: str) -> "ReportContent":
        """A partner's copy: its own sheet, findings and restatements, nothing programme-wide."""
        return self.model_copy(
            update={
                "scope": code,
                "partners": [p for p in self.partners if p.code == code],
                "itt": [row for row in self.itt if row.scope == code],
                "disaggregations": [],
                "series": [],
                "findings": [f for f in self.findings if f.partner == code],
                "restatements": [r for r in self.restatements if r.scope == code],
            }
        )
