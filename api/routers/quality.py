"""Data quality findings of a quarter, for the SERA officer and for each partner about its own data.

Findings point to submissions (by server id), so viewer tokens, which see aggregates only, are refused; a partner
token sees only the findings attributed to its organisation. No finding carries a person key, a name, a phone
number or a document: a subject names a grant, a question or a form, and submissions are named by their ids.
"""

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from analysis.freshness import AsOf, as_of
from analysis.quality import CHECKS, SEVERITIES, Finding, quality_findings, quality_summary
from api.auth import Forbidden, PrincipalDep
from api.deps import Limit, Offset, ProgrammeQuarter, SessionDep
from api.errors import ERROR_RESPONSES
from catalogue.store import stored_catalogue
from sync.connections import demo_present

router = APIRouter(tags=["data quality"], responses=ERROR_RESPONSES)

Check = StrEnum("Check", {check: check for check in CHECKS})  # type: ignore[misc]
"""The checks as a query parameter (OpenAPI lists them)."""
Severity = StrEnum("Severity", {severity: severity for severity in SEVERITIES})  # type: ignore[misc]


class CheckCount(BaseModel):
    check: str
    error: int
    warning: int
    info: int
    total: int


class QualityPage(BaseModel):
    """A page of findings, their total, and counts per check for dashboards."""

    period: str
    items: list[Finding]
    total: int
    summary: list[CheckCount]
    """Every check in display order with its findings per severity, over the findings that match `form` and
    `partner` (whatever `check` and `severity` ask), so tabs can show their counts."""
    as_of: AsOf
    """When the facts the findings are read from were computed, from which sync run, and whether submissions
    changed since."""
    demo: bool = False
    """True while `sera demo` synthetic submissions are loaded: the findings are about them."""


@router.get("/data-quality", response_model=QualityPage)
def get_data_quality(
    session: SessionDep,
    principal: PrincipalDep,
    period: ProgrammeQuarter,
    form: Annotated[str | None, Query(description="Only this catalogue form's findings.")] = None,
    partner: Annotated[str | None, Query(description="Only this partner organisation's findings.")] = None,
    check: Annotated[Check | None, Query(description="Only this check's findings.")] = None,
    severity: Annotated[Severity | None, Query(description="Only findings of this severity.")] = None,
    offset: Offset = 0,
    limit: Limit = 100,
) -> QualityPage:
    """Data quality findings of a quarter (missing partner reports, late submissions, duplicate people, values out
    of range, outliers, totals that do not add up, unknown form versions), in display order. Admin and staff see
    every finding; a partner token sees its own organisation's; viewer tokens are refused."""
    if principal.role not in ("admin", "staff", "partner"):
        raise Forbidden(f"the {principal.role} role sees aggregated values, not findings about submissions")
    if principal.role == "partner":
        if principal.organisation is None:
            raise Forbidden("this partner token names no organisation")
        if partner not in (None, principal.organisation):
            raise Forbidden("a partner token sees only its own organisation's findings")
        partner = principal.organisation
    findings = quality_findings(session, stored_catalogue(session), period, partner=partner)
    if form is not None:
        findings = [f for f in findings if f.form_id == form]
    summary = quality_summary(findings)
    selected = [
        f for f in findings if (check is None or f.check == check) and (severity is None or f.severity == severity)
    ]
    return QualityPage(
        period=period,
        items=selected[offset : offset + limit],
        total=len(selected),
        summary=[CheckCount(check=c, **counts, total=sum(counts.values())) for c, counts in summary.items()],
        as_of=as_of(session),
        demo=demo_present(session),
    )
