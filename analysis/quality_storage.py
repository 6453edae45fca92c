"""The `unstorable_value` check: what a server sent that the store could not keep exactly as sent.

The store keeps every submission, so that one odd value never blocks the others (`sync.normalize`): a text with
NUL or a lone UTF-16 surrogate is kept escaped, a NaN or an infinity as text, an id beyond 64 bits without its
number, a root id too long for an index under its digest, a server time that is no time in the raw JSON only.
Those submissions are listed in the quarter the server received them (the one SERA first stored them in when the
server gave no time), for someone to correct at the source.
"""

from collections import Counter, defaultdict

from sqlalchemy import func, select
from sqlmodel import Session, col

from analysis.quality_model import Finding, Group, Scope, count_fr
from analysis.quality_timing import received_bounds
from catalogue.model import Text
from sync.normalize import BAD_TIME, BEYOND_INT64, ESCAPED, LONG_KEY, NOT_FINITE
from sync.tables import RemoteForm, Submission

SHOWN_FIELDS = 5
"""At most this many field names quoted in a message."""

REASONS: dict[str, Text] = {
    ESCAPED: Text(
        fr="un texte contenant un caractère nul ou un demi-caractère UTF-16, gardé sous forme échappée (\\uXXXX)",
        ar="نص يحتوي على محرف فارغ أو نصف محرف UTF-16، حُفظ بصيغة مُهرَّبة (\\uXXXX)",
    ),
    NOT_FINITE: Text(fr="un nombre NaN ou infini, gardé comme texte", ar="عدد غير منته أو NaN، حُفظ كنص"),
    BEYOND_INT64: Text(
        fr="un identifiant au-delà des entiers de 64 bits, gardé comme texte",
        ar="معرّف يتجاوز الأعداد الصحيحة ذات 64 بت، حُفظ كنص",
    ),
    LONG_KEY: Text(
        fr="un identifiant racine trop long pour un index, rangé sous son empreinte SHA-256",
        ar="معرّف جذري أطول من أن يُفهرس، حُفظ تحت بصمته SHA-256",
    ),
    BAD_TIME: Text(
        fr="une date du serveur illisible, gardée comme texte (la soumission compte au trimestre de sa réception "
        "par SERA)",
        ar="تاريخ خادم غير مقروء، حُفظ كنص (تُحتسب الاستمارة في ربع استلامها من قبل SERA)",
    ),
}


def unstorable_values(session: Session, scope: Scope) -> list[Finding]:
    """Live submissions received in the quarter with a value the store could not keep as sent, one finding a form."""
    first, last = received_bounds(scope)
    received = func.coalesce(col(Submission.submitted_at), col(Submission.first_seen_at))
    query = (
        select(col(RemoteForm.form_id), col(Submission.remote_id), col(Submission.unstorable))
        .join(RemoteForm, col(RemoteForm.id) == col(Submission.remote_form_id))
        .where(
            col(Submission.unstorable).is_not(None),
            col(Submission.deleted).is_(False),
            received >= first,
            received < last,
        )
        .execution_options(yield_per=1000)
    )
    groups: dict[str, Group] = defaultdict(Group)
    fields: dict[str, Counter[str]] = defaultdict(Counter)
    reasons: dict[str, set[str]] = defaultdict(set)
    for form_id, remote_id, unstorable in session.execute(query):
        if not isinstance(unstorable, dict) or not unstorable:
            continue
        groups[form_id].add(str(remote_id))
        fields[form_id].update(str(name) for name in unstorable)
        reasons[form_id].update(str(reason) for reason in unstorable.values())
    found = []
    for form_id, group in groups.items():
        names = [name for name, _count in fields[form_id].most_common()]
        shown = ", ".join(names[:SHOWN_FIELDS]) + ("…" if len(names) > SHOWN_FIELDS else "")
        known = [REASONS[reason] for reason in sorted(reasons[form_id]) if reason in REASONS]
        message = Text(
            fr=f"{count_fr(group.count, 'soumission', 'soumissions')} dont des valeurs n'ont pas pu être "
            f"enregistrées telles que le serveur les a envoyées ({shown}) : "
            + " ; ".join(reason.fr for reason in known)
            + ". Le reste de ces soumissions et les autres soumissions sont enregistrés. Corriger ces valeurs sur "
            "le serveur.",
            ar=f"{group.count} استمارة تعذر حفظ بعض قيمها كما أرسلها الخادم ({shown}): "
            + "؛ ".join(reason.ar for reason in known)
            + ". حُفظت باقي القيم وباقي الاستمارات. يرجى تصحيح هذه القيم على الخادم.",
        )
        subject = "stored values"
        found.append(
            Finding("unstorable_value", "warning", scope.period, form_id, None, subject, message, group.listed())
        )
    return found
