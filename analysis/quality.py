"""Data quality findings per form, partner and quarter: what a SERA officer should chase before figures go out.

    findings = quality_findings(session, catalogue, "2027Q2")              # every finding of the quarter
    findings = quality_findings(session, catalogue, "2027Q2", partner="SM-01")

The checks (CHECKS, in display order):

- `missing_report` (error): a grant owes a quarterly or final partner report for the quarter, and none was
  received REPORT_GRACE_DAYS after the quarter ended (`analysis.quality_reports`).
- `late_submission`: received by the server more than LATE_AFTER_DAYS after the activity date (warning; partner
  reports one by one, field forms per partner); received or edited after the quarter's reporting deadline, so a
  figure that may already be reported changed (info: a restatement may follow) (`analysis.quality_timing`).
- `duplicate_person` (warning): the same pseudonymous person twice in the same activity (`analysis.quality_people`).
- `duplicate_report` (error): a grant with two or more start sheets (`analysis.quality_grants`).
- `out_of_range`: an answer outside its form's constraint, a negative count, a date after the server received it
  or before the form allows, an activity date outside the programme or missing (error); an amount in euros above
  its grant's amount (warning) (`analysis.quality_values`, `analysis.quality_timing`).
- `outlier` (warning): far from the form's other answers of the quarter and the three before it (median and MAD)
  (`analysis.quality_values`).
- `disaggregation_total` (error): a total that is not the sum of its parts (`analysis.quality_values`).
- `unknown_form_version` (error): sent with a form version SERA did not build or deploy, or on a remote form
  whose form left the catalogue (not counted) (`analysis.quality_timing`).
- `unstorable_value` (warning): a value the server sent that the store could not keep as sent (kept escaped,
  as text, or under a digest), in the quarter the server received it (`analysis.quality_storage`).

Everything is read from SQL: the quarter's submissions through the facts' (form, period) index, streamed, with
only the raw answers a check needs extracted by the database. Deleted submissions are never read. Findings name
submissions by their server ids, never by a person key, a name or a phone number; the facts must be computed
(`sera indicators compute`) for new submissions to be checked.
"""

import datetime as dt
import re
from collections import Counter

from sqlmodel import Session, col

from analysis.dimensions import DimensionIndex
from analysis.facts import FormPlan
from analysis.quality_grants import duplicate_start_sheets
from analysis.quality_model import (
    CHECKS,
    LATE_AFTER_DAYS,
    MAX_LISTED,
    OUTLIER_MIN_SAMPLE,
    OUTLIER_THRESHOLD,
    OUTLIER_WINDOW,
    REPORT_GRACE_DAYS,
    SEVERITIES,
    SHORT_FIRST_QUARTER_DAYS,
    Finding,
    Scope,
    form_questions,
    previous_quarters,
    sort_key,
)
from analysis.quality_people import duplicate_people
from analysis.quality_reports import latest_report_received, missing_reports, report_form
from analysis.quality_scan import scan
from analysis.quality_storage import unstorable_values
from analysis.quality_timing import TimingVisitor, known_versions, orphan_submissions, uncounted
from analysis.quality_values import ValuePlan, ValueVisitor
from analysis.tables import Fact
from catalogue.model import Catalogue
from catalogue.tables import utcnow

__all__ = [
    "CHECKS",
    "LATE_AFTER_DAYS",
    "MAX_LISTED",
    "OUTLIER_MIN_SAMPLE",
    "OUTLIER_THRESHOLD",
    "OUTLIER_WINDOW",
    "REPORT_GRACE_DAYS",
    "SEVERITIES",
    "SHORT_FIRST_QUARTER_DAYS",
    "Finding",
    "quality_findings",
    "quality_summary",
]


def observation_clock(session: Session, catalogue: Catalogue, now: dt.datetime | None) -> dt.datetime:
    """When the data is looked at: `now` (UTC now by default), or the last time the server received a partner
    report if that is later (demo data is dated up to October 2028 whatever day it is generated on)."""
    clock = now or utcnow()
    if clock.tzinfo is None:
        clock = clock.replace(tzinfo=dt.UTC)
    scope = Scope(catalogue, catalogue.programme.first_period, clock)
    form = report_form(scope)
    if form is not None:
        latest = latest_report_received(session, [form.id])
        if latest is not None and latest > clock:
            clock = latest
    return clock


def quality_findings(
    session: Session,
    catalogue: Catalogue,
    period: str,
    *,
    partner: str | None = None,
    now: dt.datetime | None = None,
) -> list[Finding]:
    """All findings of one quarter, sorted by CHECKS order, then form, partner, subject.

    `partner` keeps only the findings attributed to that partner organisation (the submissions' organisation
    question, or a grant's partner); outliers are still judged against every partner's answers. `now` is when the
    data is looked at (deadlines for missing reports), UTC now by default.
    """
    if not re.fullmatch(r"\d{4}Q[1-4]", period):
        raise ValueError(f"'{period}' is not a quarter such as 2027Q2")
    scope = Scope(catalogue, period, observation_clock(session, catalogue, now))
    index = DimensionIndex.of(catalogue)
    versions = known_versions(session)
    findings: list[Finding] = [
        *missing_reports(session, scope),
        *orphan_submissions(session, scope),
        *unstorable_values(session, scope),
        *duplicate_start_sheets(session, scope),
    ]
    for form in catalogue.forms:
        plan = FormPlan.of(catalogue, form, index)
        values = ValuePlan.of(catalogue, form, form_questions(form), plan.questions)
        wanted = values.wanted()
        timing = TimingVisitor(scope, form, versions)
        checks = ValueVisitor(scope, values, wanted)
        for row in scan(session, form.id, plan.questions, wanted, [col(Fact.period) == period]):
            timing.visit(row)
            checks.visit(row)
        earlier = checks.outlier_wanted()
        if earlier is not None:
            window = [col(Fact.period).in_(previous_quarters(period, OUTLIER_WINDOW - 1))]
            for row in scan(session, form.id, plan.questions, earlier, window):
                checks.visit_reference(row)
        findings += timing.findings()
        findings += checks.findings()
        findings += uncounted(session, scope, form, plan.questions)
        findings += duplicate_people(session, scope, form, plan)
    if partner is not None:
        findings = [finding for finding in findings if finding.partner == partner]
    return sorted(findings, key=sort_key)


def quality_summary(findings: list[Finding]) -> dict[str, dict[str, int]]:
    """Findings counted per check (CHECKS order, every check present) and severity."""
    counts = Counter((finding.check, finding.severity) for finding in findings)
    return {check: {severity: counts[(check, severity)] for severity in SEVERITIES} for check in CHECKS}
