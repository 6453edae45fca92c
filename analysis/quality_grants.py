"""Grants with more than one start sheet: a grant is signed once, so a second start sheet is a duplicate.

Indicators that count grants from their start sheet (PRIM 2's R1.1-1, a `sum` of distinct grants) count such a
grant in the quarter of each sheet but once over the programme, so the quarters no longer add up to the LOP
value; a sum of amounts (R1.1-2) counts its amount twice. The finding (`duplicate_report`, an error) belongs to
the quarter of each of the grant's start sheets and lists them all, so the officer keeps the right one and has
the others deleted on the server.
"""

from collections import defaultdict

from sqlalchemy import select
from sqlmodel import Session, col

from analysis.facts import locate_questions
from analysis.quality_model import Finding, Scope, quarter_ar, quarter_fr
from analysis.quality_reports import GRANT_DIMENSION, REPORT_TYPE_QUESTION, report_form
from analysis.tables import Fact
from catalogue.model import UNKNOWN, Text
from sync.tables import Connection, RemoteForm, Submission

START = "start"
PARTNER_DIMENSION = "partner"


def duplicate_start_sheets(session: Session, scope: Scope) -> list[Finding]:
    """One finding per grant with two or more live start sheets, one of them dated in the scope's quarter."""
    form = report_form(scope)
    located = locate_questions(form).get(REPORT_TYPE_QUESTION) if form is not None else None
    if form is None or located is None:
        return []
    data = col(Submission.data)
    query = (
        select(
            col(Fact.dims)[GRANT_DIMENSION].as_string(),
            col(Fact.dims)[PARTNER_DIMENSION].as_string(),
            col(Fact.period),
            col(Submission.remote_id),
            col(Connection.platform),
            data["/".join(located.path)].as_string(),
            data[located.path].as_string(),
        )
        .select_from(Fact)
        .join(Submission, col(Submission.id) == col(Fact.submission_id))
        .join(RemoteForm, col(RemoteForm.id) == col(Submission.remote_form_id))
        .join(Connection, col(Connection.id) == col(RemoteForm.connection_id))
        .where(col(Fact.form_id) == form.id, col(Fact.row_index) == 0, col(Submission.deleted).is_(False))
        .order_by(col(Fact.period), col(Submission.id))
    )
    sheets: dict[str, list[tuple[str | None, str]]] = defaultdict(list)
    partners: dict[str, str | None] = {}
    for grant, partner, period, remote_id, platform, flat, nested in session.execute(query):
        first, second = (flat, nested) if platform == "kobo" else (nested, flat)
        if (first if first is not None else second) != START or grant in (None, UNKNOWN):
            continue
        sheets[grant].append((period, remote_id))
        partners[grant] = partner if partner not in (None, UNKNOWN) else None
    return [
        _finding(scope, form.id, grant, partners[grant], found)
        for grant, found in sorted(sheets.items())
        if len(found) > 1 and any(period == scope.period for period, _ in found)
    ]


def _finding(
    scope: Scope, form_id: str, grant: str, partner: str | None, sheets: list[tuple[str | None, str]]
) -> Finding:
    count = len(sheets)
    quarters = sorted({period for period, _ in sheets if period})
    who = f" ({partner})" if partner else ""
    message = Text(
        fr=f"La subvention {grant}{who} a {count} fiches de démarrage ({', '.join(map(quarter_fr, quarters))}) : "
        "elle est comptée dans le trimestre de chacune par les indicateurs de subventions signées, mais une seule "
        "fois sur le programme, et son montant est additionné autant de fois. Garder la bonne fiche et faire "
        "supprimer les autres sur le serveur.",
        ar=f"للمنحة {grant}{who} {count} بطاقات انطلاق ({'، '.join(map(quarter_ar, quarters))}): تُحتسب في ربع كل "
        "واحدة منها في مؤشرات المنح الموقعة، ولكن مرة واحدة فقط على مدى البرنامج، ويُجمع مبلغها بعدد هذه "
        "البطاقات. يرجى الإبقاء على البطاقة الصحيحة وحذف البطاقات الأخرى من الخادم.",
    )
    return Finding(
        "duplicate_report",
        "error",
        scope.period,
        form_id,
        partner,
        f"grant {grant}",
        message,
        tuple(remote_id for _, remote_id in sheets),
        float(count),
    )
