"""Quarterly reports: the issued (frozen) workbook, a draft with today's figures, issuing a new edition.

Staff and the SERA officer get the whole report; a partner token gets its own copy (its sheet, findings and
restatements); viewers (donors' systems) read the aggregated values endpoints instead.
"""

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel

from analysis.report.content import ReportContent
from analysis.report.issues import (
    ReportProblem,
    check_period,
    draft_quarterly,
    find_issue,
    issue_quarterly,
    issued_content,
    issues,
)
from analysis.report.tables import ReportIssue
from analysis.report.workbook import report_xlsx
from api.auth import AdminDep, require
from api.deps import Limit, Offset, SessionDep, SettingsDep
from api.errors import ERROR_RESPONSES, ApiError, ErrorBody, NotFound
from api.schemas import Page
from catalogue.store import stored_catalogue
from sera.tokens import Principal

router = APIRouter(tags=["reports"], responses=ERROR_RESPONSES)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Period = Annotated[str, Path(pattern=r"^\d{4}Q[1-4]$", description="The quarter, e.g. 2026Q3.")]
ReaderDep = Annotated[Principal, Depends(require("admin", "staff", "partner"))]


class ReportNotReady(ApiError):
    status_code = 409
    code = "report_not_ready"


class IssueOut(BaseModel):
    period: str
    number: int
    issued_at: dt.datetime
    issued_by: str
    restatements: int
    content_hash: str


def _out(issue: ReportIssue) -> IssueOut:
    return IssueOut(
        period=issue.period,
        number=issue.number,
        issued_at=issue.issued_at,
        issued_by=issue.issued_by,
        restatements=issue.restatements,
        content_hash=issue.content_hash,
    )


@router.get("/reports/quarterly", response_model=Page[IssueOut])
def list_issues(
    session: SessionDep,
    _principal: ReaderDep,
    period: Annotated[str | None, Query(pattern=r"^\d{4}Q[1-4]$")] = None,
    offset: Offset = 0,
    limit: Limit = 100,
) -> Page[IssueOut]:
    """Issued quarterly reports, by quarter and edition."""
    found = issues(session, period)
    return Page(items=[_out(i) for i in found[offset : offset + limit]], total=len(found))


@router.get(
    "/reports/quarterly/{period}.xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}, "description": "The workbook."}},
)
def get_report(
    period: Period,
    session: SessionDep,
    settings: SettingsDep,
    principal: ReaderDep,
    issue: Annotated[int | None, Query(ge=1, description="An earlier edition (the latest by default).")] = None,
    draft: Annotated[bool, Query(description="Today's figures instead of the issued ones.")] = False,
) -> Response:
    """The quarter's report: the latest issued edition as it was issued, or a draft with today's figures when
    none is issued yet (`X-Sera-Report-Status` says which). A partner token gets its own copy."""
    found = None if draft else find_issue(session, period, issue)
    if issue is not None and found is None:
        raise NotFound(f"{period} has no edition {issue}")
    if found is not None:
        content: ReportContent = issued_content(found)
    else:
        try:
            content = draft_quarterly(
                session, stored_catalogue(session), period, threshold=settings.suppression_threshold
            )
        except ReportProblem as problem:
            raise NotFound(str(problem)) from None
    if principal.role == "partner":
        assert principal.organisation is not None
        content = content.for_partner(principal.organisation)
    status = "issued" if found is not None else "draft"
    suffix = f"e{found.number}" if found is not None else "projet"
    who = "" if principal.role != "partner" else f"-{principal.organisation}"
    filename = f"{content.programme_code}-rapport-{period}-{suffix}{who}.xlsx"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"', "X-Sera-Report-Status": status}
    if found is not None:
        headers["X-Sera-Report-Issue"] = str(found.number)
    return Response(report_xlsx(content), media_type=XLSX, headers=headers)


@router.post(
    "/reports/quarterly/{period}/issues",
    response_model=IssueOut,
    status_code=201,
    responses={409: {"model": ErrorBody, "description": "The quarter is not over yet"}},
)
def post_issue(period: Period, session: SessionDep, settings: SettingsDep, principal: AdminDep) -> IssueOut:
    """Issue the quarter's report (a first edition, or a corrected one restating what changed)."""
    catalogue = stored_catalogue(session)
    try:
        check_period(catalogue, period)
    except ReportProblem as problem:
        raise NotFound(str(problem)) from None
    try:
        issue = issue_quarterly(
            session,
            catalogue,
            period,
            threshold=settings.suppression_threshold,
            issued_by=f"token {principal.token_id}",
        )
    except ReportProblem as problem:
        raise ReportNotReady(str(problem)) from None
    session.commit()
    return _out(issue)
