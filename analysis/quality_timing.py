"""Checks on when and how submissions came: lateness, changes after the reporting deadline, activity dates that
place a submission in no quarter or in the wrong one, and form versions SERA did not build.

Lateness is the server's receive time minus the activity date the form collects (the period a value lands in);
a partner report (a form whose audience is `partner`) is judged one by one, field forms per partner and form,
since an offline phone brings its sheets back together. A submission of the quarter received, or edited (ODK
Central's `updatedAt`), after the quarter's reporting deadline changes a figure that may already be reported.
"""

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlmodel import Session, col

from analysis.facts import Located
from analysis.quality_model import (
    LATE_AFTER_DAYS,
    Finding,
    Group,
    Scope,
    count_fr,
    date_text,
    day_start,
    next_quarter,
    quarter_ar,
    quarter_fr,
    quarter_start,
    values_text,
)
from analysis.quality_scan import ScanRow, Wanted, scan
from analysis.tables import Fact
from catalogue.model import UNKNOWN, Audience, FormSpec, Question, Text, walk_questions
from catalogue.periods import quarters_between
from sync.tables import Connection, RemoteForm, Submission
from xlsforms.version import HASH_LENGTH

OUR_VERSION = re.compile(rf"^\d{{8}}-[0-9a-f]{{{HASH_LENGTH}}}$")
"""The shape of the versions SERA builds (`xlsforms.version`): `YYYYMMDD-hhhhhhhhhh`."""
FUTURE_SLACK = dt.timedelta(days=1)


@dataclass(frozen=True)
class KnownVersions:
    """The form versions SERA built or deployed for one remote form."""

    platform: str
    versions: frozenset[str]

    def knows(self, version: str | None) -> bool:
        if version is not None and version in self.versions:
            return True
        # ODK Central accepts only versions published on that form; its history is not kept by deploy, so an earlier
        # version in SERA's own shape was published there by SERA. Kobo's versions are its own uids, all recorded.
        return self.platform == "odk" and version is not None and OUR_VERSION.match(version) is not None


def known_versions(session: Session) -> dict[int, KnownVersions | None]:
    """Each remote form's known versions; None for a form SERA never deployed (linked by hand: nothing to judge)."""
    query = select(RemoteForm, Connection.platform).join(
        Connection, col(Connection.id) == col(RemoteForm.connection_id)
    )
    known: dict[int, KnownVersions | None] = {}
    for remote, platform in session.execute(query):
        assert remote.id is not None
        versions = {remote.deployed_version} if remote.deployed_version else set()
        recorded = remote.remote_state.get("versions") if isinstance(remote.remote_state, dict) else None
        if isinstance(recorded, dict):
            versions |= {str(k) for k in recorded} | {str(v) for v in recorded.values() if v}
        known[remote.id] = KnownVersions(platform, frozenset(versions)) if versions else None
    return known


def always_asked(form: FormSpec) -> bool:
    """Whether the activity date is required with no `relevant` on it or on a group around it (a sheet without
    consent legitimately has no date: it is then no finding)."""
    for path, question in walk_questions(form.questions):
        if question.name == form.activity_date:
            return question.required and not _relevance_on(form.questions, path)
    return False


def _relevance_on(questions: list[Question], path: tuple[str, ...]) -> bool:
    level = questions
    for name in path:
        question = next((q for q in level if q.name == name), None)
        if question is None:
            return False
        if question.relevant:
            return True
        level = question.questions
    return False


@dataclass
class TimingVisitor:
    """Lateness, restatements, activity dates and versions of one form's submissions of the quarter."""

    scope: Scope
    form: FormSpec
    versions: dict[int, KnownVersions | None]
    late: dict[tuple[str | None, str], Group] = field(default_factory=lambda: defaultdict(Group))
    after_deadline: dict[str | None, Group] = field(default_factory=lambda: defaultdict(Group))
    future: dict[str | None, Group] = field(default_factory=lambda: defaultdict(Group))
    outside: dict[str | None, Group] = field(default_factory=lambda: defaultdict(Group))
    foreign: dict[tuple[str | None, str], Group] = field(default_factory=lambda: defaultdict(Group))

    @property
    def one_by_one(self) -> bool:
        return self.form.audience is Audience.partner

    def visit(self, row: ScanRow) -> None:
        programme = self.scope.catalogue.programme
        received = row.submitted_at.date() if row.submitted_at else None
        late = False
        if row.activity_date is not None and received is not None:
            days = (received - row.activity_date).days
            late = days > LATE_AFTER_DAYS
            if late:
                self.late[(row.organisation, self._subject(row))].add(row.remote_id, float(days), received)
        last_seen = row.last_seen
        if row.activity_date is not None and last_seen is not None and row.activity_date > last_seen + FUTURE_SLACK:
            self.future[row.organisation].add(row.remote_id, day=row.activity_date)
        if row.activity_date is not None and not programme.start <= row.activity_date <= programme.end:
            self.outside[row.organisation].add(row.remote_id, day=row.activity_date)
        changed = row.last_changed
        if changed is not None and changed > self.scope.deadline and not (late and self.one_by_one):
            self.after_deadline[row.organisation].add(row.remote_id, day=changed)
        known = self.versions.get(row.remote_form_id)
        if known is not None and not known.knows(row.form_version):
            self.foreign[(row.organisation, row.form_version or "")].add(row.remote_id)

    def _subject(self, row: ScanRow) -> str:
        if not self.one_by_one:
            return f"form {self.form.id}"
        if row.grant and row.grant != UNKNOWN:
            return f"grant {row.grant}"
        return f"submission {row.remote_id}"

    def findings(self) -> list[Finding]:
        period, form = self.scope.period, self.form
        found: list[Finding] = []
        for (partner, subject), group in self.late.items():
            worst = group.worst() or 0.0
            if self.one_by_one:
                after = group.last_day is not None and group.last_day > self.scope.deadline
                deadline = date_text(self.scope.deadline)
                message = Text(
                    fr=f"{form.title.fr} ({subject}) reçu {worst:.0f} jours après sa date de référence, au-delà du "
                    f"délai de {LATE_AFTER_DAYS} jours"
                    + (
                        f", et après le {deadline}, date limite des rapports du trimestre : les chiffres déjà "
                        "communiqués pour ce trimestre peuvent devoir être révisés"
                        if after
                        else ""
                    )
                    + ". Rappeler au partenaire la date limite des rapports.",
                    ar=f"{form.title.ar} ({subject}) توصل به الخادم بعد {worst:.0f} يوما من تاريخه المرجعي، متجاوزا "
                    f"أجل {LATE_AFTER_DAYS} يوما"
                    + (
                        f"، وبعد {deadline}، آخر أجل لتقارير هذا الربع: قد يلزم تصحيح الأرقام المبلغة عن هذا الربع"
                        if after
                        else ""
                    )
                    + ". يرجى تذكير الشريك بآخر أجل لتقديم التقارير.",
                )
            else:
                n = group.count
                message = Text(
                    fr=f"{count_fr(n, 'soumission datée', 'soumissions datées')} de {quarter_fr(period)} "
                    f"{'reçue' if n == 1 else 'reçues'} par le serveur plus de {LATE_AFTER_DAYS} jours après "
                    f"l'activité (jusqu'à {worst:.0f} "
                    "jours). Vérifier que les téléphones envoient leurs fiches (connexion, envoi automatique) et "
                    "rappeler aux équipes d'envoyer chaque jour.",
                    ar=f"{n} استمارة مؤرخة في {quarter_ar(period)} توصل بها الخادم بعد أكثر من {LATE_AFTER_DAYS} "
                    f"يوما من النشاط (إلى غاية {worst:.0f} يوما). يرجى التحقق من أن الهواتف ترسل الاستمارات "
                    "(الاتصال، الإرسال التلقائي) وتذكير الفرق بالإرسال اليومي.",
                )
            found.append(
                Finding("late_submission", "warning", period, form.id, partner, subject, message, group.listed(), worst)
            )
        deadline = date_text(self.scope.deadline)
        for partner, group in self.after_deadline.items():
            n = group.count
            message = Text(
                fr=f"{count_fr(n, 'soumission', 'soumissions')} de {quarter_fr(period)} "
                f"{'reçue ou modifiée' if n == 1 else 'reçues ou modifiées'} "
                f"après le {deadline}, date limite des rapports du trimestre : les chiffres de {quarter_fr(period)} "
                "ont pu changer depuis leur communication. Comparer avec le rapport transmis et prévoir une révision "
                "si besoin.",
                ar=f"{n} استمارة تخص {quarter_ar(period)} تم التوصل بها أو تعديلها بعد {deadline}، آخر أجل لتقارير "
                "هذا الربع: قد تكون أرقام هذا الربع تغيرت بعد تبليغها. يرجى المقارنة مع التقرير المرسل وبرمجة "
                "تصحيح عند الحاجة.",
            )
            found.append(
                Finding(
                    "late_submission",
                    "info",
                    period,
                    form.id,
                    partner,
                    f"changed after {self.scope.deadline.isoformat()}",
                    message,
                    group.listed(),
                )
            )
        question = form.activity_date
        for partner, group in self.future.items():
            message = Text(
                fr=f"{count_fr(group.count, 'soumission', 'soumissions')} dont la date d'activité "
                f"({values_text(group.shown)}) est postérieure au jour où elles ont été saisies ou reçues : "
                "elles comptent dans un mauvais trimestre. Corriger la date sur le serveur.",
                ar=f"{group.count} استمارة تاريخ نشاطها ({values_text(group.shown)}) لاحق ليوم ملئها أو التوصل بها: "
                "تحتسب في ربع خاطئ. يرجى تصحيح التاريخ على الخادم.",
            )
            found.append(
                Finding(
                    "out_of_range", "error", period, form.id, partner, f"question {question}", message, group.listed()
                )
            )
        for partner, group in self.outside.items():
            found.append(outside_programme(self.scope, form, partner, group))
        for (partner, version), group in self.foreign.items():
            shown = version or "?"
            message = Text(
                fr=f"{count_fr(group.count, 'soumission envoyée', 'soumissions envoyées')} avec la version "
                f"« {shown} » du formulaire, qui n'est pas une version construite ou déployée par SERA : ses "
                "réponses sont lues par nom de question et peuvent manquer ou avoir changé de sens. Vérifier le "
                "formulaire sur le serveur et le redéployer depuis le catalogue (`sera forms deploy`).",
                ar=f"{group.count} استمارة أرسلت بالنسخة «{shown}» من الاستمارة، وهي ليست نسخة أعدها أو نشرها "
                "النظام: تقرأ أجوبتها حسب اسم السؤال وقد تكون ناقصة أو تغير معناها. يرجى التحقق من الاستمارة على "
                "الخادم وإعادة نشرها انطلاقا من الفهرس.",
            )
            found.append(
                Finding(
                    "unknown_form_version",
                    "error",
                    period,
                    form.id,
                    partner,
                    f"version {shown}",
                    message,
                    group.listed(),
                )
            )
        return found


def outside_programme(scope: Scope, form: FormSpec, partner: str | None, group: Group) -> Finding:
    programme = scope.catalogue.programme
    span = f"{date_text(programme.start)} – {date_text(programme.end)}"
    message = Text(
        fr=f"{count_fr(group.count, 'soumission', 'soumissions')} dont la date d'activité "
        f"({values_text(group.shown)}) est hors de la période du programme ({span}) : elles ne comptent dans aucun "
        "trimestre, ou à tort. Corriger la date sur le serveur.",
        ar=f"{group.count} استمارة تاريخ نشاطها ({values_text(group.shown)}) خارج فترة البرنامج ({span}): لا تحتسب "
        "في أي ربع أو تحتسب خطأ. يرجى تصحيح التاريخ على الخادم.",
    )
    return Finding(
        "out_of_range",
        "error",
        scope.period,
        form.id,
        partner,
        f"question {form.activity_date}",
        message,
        group.listed(),
    )


def received_bounds(scope: Scope) -> tuple[dt.datetime, dt.datetime]:
    """The quarter as server receive times: [its first day, the next quarter's first day)."""
    return day_start(scope.start), day_start(quarter_start(next_quarter(scope.period)))


def uncounted(session: Session, scope: Scope, form: FormSpec, questions: dict[str, Located]) -> list[Finding]:
    """Submissions received in the quarter whose activity date is missing or outside the programme's quarters:
    no quarter's scan sees them, so they are reported in the quarter the server received them."""
    programme = scope.catalogue.programme
    quarters = quarters_between(programme.first_period, programme.last_period)
    if scope.period not in quarters:
        return []
    first, last = received_bounds(scope)
    clauses = [
        or_(col(Fact.period).is_(None), col(Fact.period) < quarters[0], col(Fact.period) > quarters[-1]),
        col(Submission.submitted_at) >= first,
        col(Submission.submitted_at) < last,
    ]
    missing: dict[str | None, Group] = defaultdict(Group)
    outside: dict[str | None, Group] = defaultdict(Group)
    asked = always_asked(form)
    for row in scan(session, form.id, questions, Wanted(), clauses):
        if row.activity_date is None:
            if asked:
                missing[row.organisation].add(row.remote_id)
        else:
            outside[row.organisation].add(row.remote_id, day=row.activity_date)
    found = [outside_programme(scope, form, partner, group) for partner, group in outside.items()]
    for partner, group in missing.items():
        message = Text(
            fr=f"{count_fr(group.count, 'soumission reçue', 'soumissions reçues')} en {quarter_fr(scope.period)} "
            "sans date d'activité lisible : elles ne comptent dans aucun indicateur. Compléter la date sur le serveur.",
            ar=f"{group.count} استمارة توصل بها الخادم في {quarter_ar(scope.period)} دون تاريخ نشاط مقروء: لا تحتسب "
            "في أي مؤشر. يرجى إتمام التاريخ على الخادم.",
        )
        found.append(
            Finding(
                "out_of_range",
                "error",
                scope.period,
                form.id,
                partner,
                f"question {form.activity_date}",
                message,
                group.listed(),
            )
        )
    return found


def orphan_submissions(session: Session, scope: Scope) -> list[Finding]:
    """Submissions received in the quarter on remote forms whose form is not in the catalogue: counted nowhere."""
    forms = {form.id for form in scope.catalogue.forms}
    orphans = {
        remote_id: (form_id, remote)
        for remote_id, form_id, remote in session.execute(
            select(RemoteForm.id, RemoteForm.form_id, RemoteForm.remote_id)
        )
        if form_id not in forms
    }
    if not orphans:
        return []
    first, last = received_bounds(scope)
    query = (
        select(col(Submission.remote_form_id), col(Submission.remote_id))
        .where(
            col(Submission.remote_form_id).in_(list(orphans)),
            col(Submission.deleted).is_(False),
            col(Submission.submitted_at) >= first,
            col(Submission.submitted_at) < last,
        )
        .execution_options(yield_per=1000)
    )
    groups: dict[int, Group] = defaultdict(Group)
    for remote_form_id, remote_id in session.execute(query):
        groups[remote_form_id].add(str(remote_id))
    found = []
    for remote_form_id, group in groups.items():
        form_id, remote = orphans[remote_form_id]
        message = Text(
            fr=f"{count_fr(group.count, 'soumission reçue', 'soumissions reçues')} sur le formulaire distant "
            f"« {remote} » ({form_id}), qui n'est plus dans le catalogue : elles ne comptent dans aucun indicateur. "
            "Remettre le formulaire dans le catalogue ou archiver ces données.",
            ar=f"{group.count} استمارة توصل بها الخادم على الاستمارة «{remote}» ({form_id})، التي لم تعد ضمن الفهرس: "
            "لا تحتسب في أي مؤشر. يرجى إعادة الاستمارة إلى الفهرس أو أرشفة هذه المعطيات.",
        )
        found.append(
            Finding(
                "unknown_form_version",
                "error",
                scope.period,
                form_id,
                None,
                f"remote form {remote}",
                message,
                group.listed(),
            )
        )
    return found
