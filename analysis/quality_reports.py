"""Expected partner reports not received: every grant owes a quarterly (or final) report for each quarter it runs.

The grants are the catalogue's `grant` dimension values (their partner is the value's parent). A grant with a
`start` attribute owes reports from the quarter it starts in (from the next one when it starts less than
SHORT_FIRST_QUARTER_DAYS before that quarter ends) to the quarter of its `end` attribute (the programme's last
quarter without one). A grant without a `start` owes a report for each quarter from the first one in which any
report or activity of it exists. A report is owed REPORT_GRACE_DAYS after the quarter's last day (the 30 days the
conventions give): a missing one is flagged only once that deadline has passed.

The report form is the form filled by partners (audience `partner`) that feeds the `grant` dimension and asks a
`report_type`; a report counts for the quarter its reference (activity) date falls in, which the form requires to
be the last day of the quarter reported on.
"""

import datetime as dt

from sqlalchemy import exists, func, select
from sqlmodel import Session, col

from analysis.facts import locate_questions
from analysis.quality_model import (
    SHORT_FIRST_QUARTER_DAYS,
    Finding,
    Scope,
    date_text,
    next_quarter,
    quarter_ar,
    quarter_end,
    quarter_fr,
)
from analysis.tables import Fact
from catalogue.model import UNKNOWN, Audience, FormSpec, Text
from catalogue.periods import quarter_of
from sync.tables import Connection, RemoteForm, Submission

GRANT_DIMENSION = "grant"
REPORT_TYPE_QUESTION = "report_type"
PERIOD_REPORT_TYPES = ("quarterly", "final")


def report_form(scope: Scope) -> FormSpec | None:
    """The partners' periodic report form, if the catalogue has one."""
    for form in scope.catalogue.forms:
        if form.audience is Audience.partner and GRANT_DIMENSION in form.dimensions:
            return form
    return None


def latest_report_received(session: Session, form_ids: list[str]) -> dt.datetime | None:
    """When the server last received a report: the data's own clock (a demo dated in the future, say)."""
    remotes = select(RemoteForm.id).where(col(RemoteForm.form_id).in_(form_ids))
    query = select(func.max(Submission.submitted_at)).where(
        col(Submission.remote_form_id).in_(remotes), col(Submission.deleted).is_(False)
    )
    latest = session.execute(query).scalar()
    return latest if isinstance(latest, dt.datetime) else None


def _date(value: object) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)) if value not in (None, "") else None
    except ValueError:
        return None


def first_owed(start: dt.date) -> str:
    """The first quarter a grant reports on."""
    quarter = quarter_of(start)
    if (quarter_end(quarter) - start).days < SHORT_FIRST_QUARTER_DAYS:
        quarter = next_quarter(quarter)
    return quarter


def _has_activity(session: Session, grant: str, period: str, forms: list[str]) -> bool:
    """Whether any submission of the grant dated in `period` or before exists (for grants without a start)."""
    query = select(
        exists().where(
            col(Fact.form_id).in_(forms),
            col(Fact.period) <= period,
            col(Fact.row_index) == 0,
            col(Fact.dims)[GRANT_DIMENSION].as_string() == grant,
        )
    )
    return bool(session.execute(query).scalar())


def missing_reports(session: Session, scope: Scope) -> list[Finding]:
    form = report_form(scope)
    if form is None or scope.clock.date() <= scope.deadline:
        return []
    period = scope.period
    grants = next((d for d in scope.catalogue.dimensions if d.code == GRANT_DIMENSION), None)
    if grants is None:
        return []
    received = _reported_grants(session, form, period)
    grant_forms = [f.id for f in scope.catalogue.forms if GRANT_DIMENSION in f.dimensions]
    last_period = scope.catalogue.programme.last_period
    found = []
    for grant in grants.values:
        if grant.code == UNKNOWN or grant.code in received:
            continue
        start, end = _date(grant.attributes.get("start")), _date(grant.attributes.get("end"))
        if period > (quarter_of(end) if end else last_period):
            continue
        if start is not None:
            if period < first_owed(start):
                continue
        elif not _has_activity(session, grant.code, period, grant_forms):
            continue
        partner = grant.parent if grant.parent and grant.parent != UNKNOWN else None
        overdue = (scope.clock.date() - scope.deadline).days
        who = f" ({partner})" if partner else ""
        due = date_text(scope.deadline)
        message = Text(
            fr=f"Aucun rapport trimestriel reçu pour la subvention {grant.code}{who} sur {quarter_fr(period)} : il "
            f"était dû le {due} ({overdue} jours de retard). Relancer le partenaire et faire saisir le rapport dans "
            f"le formulaire « {form.title.fr} » ; les indicateurs de la subvention sont incomplets pour ce trimestre.",
            ar=f"لم يتم التوصل بأي تقرير فصلي للمنحة {grant.code}{who} عن {quarter_ar(period)}: كان آخر أجل له "
            f"{due} (تأخر {overdue} يوما). يرجى تذكير الشريك وإدخال التقرير في الاستمارة «{form.title.ar}»؛ "
            "مؤشرات هذه المنحة غير مكتملة بالنسبة لهذا الربع.",
        )
        found.append(
            Finding(
                "missing_report",
                "error",
                period,
                form.id,
                partner,
                f"grant {grant.code}",
                message,
                (),
                float(overdue),
            )
        )
    return found


def _reported_grants(session: Session, form: FormSpec, period: str) -> set[str]:
    """Grants with a quarterly or final report dated in the quarter (the quarter's reports: a handful of rows).

    The report type is read from the stored JSON (one path), so it counts even where no indicator keeps it."""
    questions = locate_questions(form)
    located = questions.get(REPORT_TYPE_QUESTION)
    data = col(Submission.data)
    columns = []
    if located is not None:
        columns = [data["/".join(located.path)].as_string(), data[located.path].as_string()]
    query = (
        select(col(Fact.dims)[GRANT_DIMENSION].as_string(), col(Connection.platform), *columns)
        .select_from(Fact)
        .join(Submission, col(Submission.id) == col(Fact.submission_id))
        .join(RemoteForm, col(RemoteForm.id) == col(Submission.remote_form_id))
        .join(Connection, col(Connection.id) == col(RemoteForm.connection_id))
        .where(
            col(Fact.form_id) == form.id,
            col(Fact.period) == period,
            col(Fact.row_index) == 0,
            col(Submission.deleted).is_(False),
        )
    )
    reported = set()
    for row in session.execute(query):
        grant, platform = row[0], row[1]
        if grant is None or grant == UNKNOWN:
            continue
        if located is not None:
            flat, nested = row[2], row[3]
            first, second = (flat, nested) if platform == "kobo" else (nested, flat)
            if (first if first is not None else second) not in PERIOD_REPORT_TYPES:
                continue
        reported.add(str(grant))
    return reported
