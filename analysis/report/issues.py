"""Issuing quarterly reports and reading them back: drafts are built on request, issues are frozen.

Issuing stores the content (figures, findings, restatements) as it is at that moment; fetching an issue later
gives those numbers whatever happened since. A quarter can be issued only once it has ended; a corrected issue
gets the next number and restates what changed since the previous one.
"""

import datetime as dt
import hashlib
import json

from sqlalchemy import func, text
from sqlmodel import Session, col, select

from analysis.quality import quality_findings
from analysis.report.build import build_content
from analysis.report.content import ReportContent, Restatement
from analysis.report.restate import restatements
from analysis.report.tables import ReportIssue
from analysis.tables import ComputeState
from analysis.values import Suppression
from catalogue.model import Catalogue
from catalogue.periods import quarter_bounds, quarters_between
from catalogue.tables import CatalogueLoad, utcnow
from sync.connections import demo_present

QUARTERLY = "quarterly"


class ReportProblem(ValueError):
    """A report that cannot be made as asked; the message says why and what to do."""


def check_period(catalogue: Catalogue, period: str) -> None:
    programme = catalogue.programme
    if period not in quarters_between(programme.first_period, programme.last_period):
        raise ReportProblem(
            f"{period} is not a quarter of {programme.code} ({programme.first_period} to {programme.last_period})"
        )


def issues(session: Session, period: str | None = None) -> list[ReportIssue]:
    """Issued quarterly reports, by quarter then issue number."""
    query = select(ReportIssue).where(ReportIssue.kind == QUARTERLY)
    if period is not None:
        query = query.where(ReportIssue.period == period)
    return list(session.exec(query.order_by(col(ReportIssue.period), col(ReportIssue.number))))


def find_issue(session: Session, period: str, number: int | None = None) -> ReportIssue | None:
    """An issue of the quarter's report: the latest, or the one numbered `number`."""
    found = issues(session, period)
    if number is not None:
        return next((issue for issue in found if issue.number == number), None)
    return found[-1] if found else None


def issued_content(issue: ReportIssue) -> ReportContent:
    return ReportContent.model_validate(issue.content)


def draft_quarterly(
    session: Session,
    catalogue: Catalogue,
    period: str,
    *,
    threshold: int,
    now: dt.datetime | None = None,
    findings: bool = True,
) -> ReportContent:
    """The quarter's report as today's values give it, with restatements of what earlier issues said."""
    check_period(catalogue, period)
    now = now or utcnow()
    content = _content(session, catalogue, period, threshold=threshold, now=now, findings=findings)
    content.restatements = list(_restatements(session, catalogue, period, threshold, now, content))
    return content


def issue_quarterly(
    session: Session,
    catalogue: Catalogue,
    period: str,
    *,
    threshold: int,
    issued_by: str,
    now: dt.datetime | None = None,
) -> ReportIssue:
    """Freeze the quarter's report as a new issue (the caller commits; edition numbering is held until then)."""
    clock = now is None
    now = now or utcnow()
    check_period(catalogue, period)
    _, last_day = quarter_bounds(period)
    if now.date() <= last_day:
        raise ReportProblem(f"{period} ends on {last_day:%d/%m/%Y}: its report can be issued from the day after")
    seen = _last_number(session, period)
    content = draft_quarterly(session, catalogue, period, threshold=threshold, now=now)
    _lock_editions(session, period)
    previous = _last_number(session, period)
    if previous != seen:
        # Another edition was issued while this one was drafted: restate against it, as if issued after it.
        content = draft_quarterly(session, catalogue, period, threshold=threshold, now=now)
    # Numbered and dated under the lock: numbers follow `issued_at`, whatever order the requests came in.
    if clock:
        now = utcnow()
    content.issue = previous + 1
    content.issued_at = now
    data = content.model_dump(mode="json")
    issue = ReportIssue(
        kind=QUARTERLY,
        period=period,
        number=content.issue,
        issued_at=now,
        issued_by=issued_by,
        restatements=len(content.restatements),
        content_hash=hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest(),
        content=data,
    )
    session.add(issue)
    session.flush()
    return issue


def _last_number(session: Session, period: str) -> int:
    number = session.exec(
        select(func.max(ReportIssue.number)).where(ReportIssue.kind == QUARTERLY, ReportIssue.period == period)
    ).one()
    return int(number or 0)


def _lock_editions(session: Session, period: str) -> None:
    """Hold the right to number the quarter's next edition until the caller's transaction ends.

    Reading the last number and inserting the next are two statements: without a lock two requests read the
    same number and one fails on the unique constraint. PostgreSQL: a transaction-level advisory lock keyed by
    the quarter (other quarters and readers are not held up). SQLite: a write statement that matches no row
    takes the database's write lock, which the next writer waits for (`busy_timeout`).
    """
    if session.get_bind().dialect.name == "postgresql":
        key = f"sera:report_issue:{QUARTERLY}:{period}"
        session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})
    else:
        session.execute(text("UPDATE report_issue SET number = number WHERE 1 = 0"))


def _content(
    session: Session, catalogue: Catalogue, period: str, *, threshold: int, now: dt.datetime, findings: bool
) -> ReportContent:
    state = session.get(ComputeState, 1)
    loaded_at = session.exec(select(func.max(CatalogueLoad.loaded_at))).one()
    content = build_content(
        session,
        catalogue,
        period,
        hide=Suppression(session, threshold),
        threshold=threshold,
        findings=quality_findings(session, catalogue, period, now=now) if findings else (),
        now=now,
        values_computed_at=state.last_run_at if state else None,
        catalogue_loaded_at=loaded_at,
    )
    content.demo = demo_present(session)
    return content


def _restatements(
    session: Session,
    catalogue: Catalogue,
    period: str,
    threshold: int,
    now: dt.datetime,
    content: ReportContent,
) -> list[Restatement]:
    """Restatements of the latest issue of every quarter up to `period` (its own previous issue included)."""
    latest: dict[str, ReportIssue] = {}
    for issue in issues(session):
        if issue.period <= period:
            latest[issue.period] = issue
    found: list[Restatement] = []
    for quarter, issue in sorted(latest.items()):
        today = (
            content
            if quarter == period
            else _content(session, catalogue, quarter, threshold=threshold, now=now, findings=False)
        )
        found.extend(restatements(issued_content(issue), today))
    return found
