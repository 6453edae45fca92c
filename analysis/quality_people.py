"""The same person registered more than once for the same activity.

People are compared by their pseudonymous key only (`analysis_fact.person_key`): names and phones are never read.
An activity is what the questions of `ACTIVITY_KEYS` say for the form (an attendance sheet: date, grant and type
of activity; a training test: session code and pre/post moment), or the activity date for another form that
identifies people. Candidates are found by the database, grouped on what the facts keep; the few candidates are
then compared on the other questions of the key (read from the raw JSON, one path each). One finding per activity
(and partner) lists every sheet of the people registered more than once; its value is the number of sheets too many.
"""

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from analysis.answers import typed
from analysis.facts import FormPlan, Located
from analysis.quality_model import Finding, Group, Scope, form_questions, question_label
from analysis.tables import Fact
from catalogue.model import FormSpec, Text
from sync.tables import Connection, RemoteForm, Submission

ACTIVITY_KEYS: dict[str, tuple[str, ...]] = {
    "attendance": ("activity_date", "grant", "activity_type"),
    "training_test": ("session_code", "test_moment"),
}
"""Form id → the questions that together identify one activity (one sheet per person and activity is expected)."""
CHUNK = 500


@dataclass(frozen=True)
class KeyPart:
    name: str
    source: str
    """`date` (the fact's activity date), `dim:CODE`, `value` (kept in the facts) or `raw` (read from the JSON)."""


def key_parts(form: FormSpec, plan: FormPlan) -> list[KeyPart]:
    names = ACTIVITY_KEYS.get(form.id, (form.activity_date,))
    dimension_of = {question: dimension for dimension, question in form.dimensions.items()}
    parts = []
    for name in names:
        located = plan.questions.get(name)
        if name == form.activity_date:
            parts.append(KeyPart(name, "date"))
        elif located is None or located.pii or located.scope:
            continue
        elif name in dimension_of:
            parts.append(KeyPart(name, f"dim:{dimension_of[name]}"))
        elif name in plan.value_names:
            parts.append(KeyPart(name, "value"))
        else:
            parts.append(KeyPart(name, "raw"))
    return parts


def _fact_expression(part: KeyPart) -> Any:
    if part.source == "date":
        return col(Fact.activity_date)
    if part.source.startswith("dim:"):
        return col(Fact.dims)[part.source.removeprefix("dim:")].as_string()
    return col(Fact.values)[part.name].as_string()


def duplicate_people(session: Session, scope: Scope, form: FormSpec, plan: FormPlan) -> list[Finding]:
    if not form.person_identifiers:
        return []
    parts = key_parts(form, plan)
    in_facts = [p for p in parts if p.source != "raw"]
    raw = [p for p in parts if p.source == "raw"]
    live = (
        select(
            col(Fact.person_key).label("person"), *(_fact_expression(p).label(f"k{i}") for i, p in enumerate(in_facts))
        )
        .join(Submission, col(Submission.id) == col(Fact.submission_id))
        .where(
            col(Fact.form_id) == form.id,
            col(Fact.period) == scope.period,
            col(Fact.row_index) == 0,
            col(Fact.person_key).is_not(None),
            col(Submission.deleted).is_(False),
        )
        .subquery()
    )
    keys = [live.c[f"k{i}"] for i in range(len(in_facts))]
    candidates = select(live.c.person).group_by(live.c.person, *keys).having(func.count() > 1)
    people = sorted({person for (person,) in session.execute(candidates)})
    if not people:
        return []
    sheets: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    for person, organisation, remote_id, key in _members(session, scope, form, plan.questions, in_facts, raw, people):
        sheets[(organisation, key, person)].append(remote_id)
    activities: dict[tuple[str | None, tuple[Any, ...]], Group] = defaultdict(Group)
    people_in: Counter[tuple[str | None, tuple[Any, ...]]] = Counter()
    for (organisation, key, _person), remote_ids in sheets.items():
        if len(set(remote_ids)) > 1:
            people_in[(organisation, key)] += 1
            for remote_id in set(remote_ids):
                activities[(organisation, key)].add(remote_id)
    found = []
    questions = form_questions(form)
    names = [p.name for p in (*in_facts, *raw)]
    for (organisation, key), activity in sorted(activities.items(), key=lambda item: item[1].listed()):
        people = people_in[(organisation, key)]
        extra = activity.count - people
        shown = [_shown(v) for v in key]
        subject = "; ".join(f"{name}={value}" for name, value in zip(names, shown, strict=True))
        fr = ", ".join(f"{question_label(questions.get(n), n)[0]} : {v}" for n, v in zip(names, shown, strict=True))
        ar = "، ".join(f"{question_label(questions.get(n), n)[1]}: {v}" for n, v in zip(names, shown, strict=True))
        message = Text(
            fr=f"{extra} {'fiche' if extra == 1 else 'fiches'} en double pour la même activité ({fr}) : "
            + ("une personne est enregistrée" if people == 1 else f"{people} personnes sont enregistrées")
            + " plusieurs fois. Chaque personne compte une fois parmi les personnes touchées, mais les "
            "participations sont surestimées. Vérifier les fiches et supprimer les doublons sur le serveur.",
            ar=f"{extra} استمارة مكررة لنفس النشاط ({ar}): تم تسجيل {people} شخص أكثر من مرة. يحتسب كل منهم "
            "مرة واحدة ضمن الأشخاص المستفيدين، لكن عدد المشاركات مضخم. يرجى التحقق من الاستمارات وحذف المكررة على "
            "الخادم.",
        )
        found.append(
            Finding(
                "duplicate_person",
                "warning",
                scope.period,
                form.id,
                organisation,
                subject,
                message,
                activity.listed(),
                float(extra),
            )
        )
    return found


def _shown(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    return "?" if value is None else str(value)


def _members(
    session: Session,
    scope: Scope,
    form: FormSpec,
    questions: dict[str, Located],
    in_facts: list[KeyPart],
    raw: list[KeyPart],
    people: list[str],
) -> Iterator[tuple[str, str | None, str, tuple[Any, ...]]]:
    """(person key, organisation, remote id, activity key) of the candidates' submissions of the quarter."""
    data = col(Submission.data)
    raw_columns = []
    for part in raw:
        path = questions[part.name].path
        raw_columns += [data["/".join(path)].as_string(), data[path].as_string()]
    for start in range(0, len(people), CHUNK):
        query = (
            select(
                col(Fact.person_key),
                col(Fact.organisation),
                col(Submission.remote_id),
                col(Connection.platform),
                *(_fact_expression(p) for p in in_facts),
                *raw_columns,
            )
            .select_from(Fact)
            .join(Submission, col(Submission.id) == col(Fact.submission_id))
            .join(RemoteForm, col(RemoteForm.id) == col(Submission.remote_form_id))
            .join(Connection, col(Connection.id) == col(RemoteForm.connection_id))
            .where(
                col(Fact.form_id) == form.id,
                col(Fact.period) == scope.period,
                col(Fact.row_index) == 0,
                col(Fact.person_key).in_(people[start : start + CHUNK]),
                col(Submission.deleted).is_(False),
            )
        )
        for row in session.execute(query):
            platform = row[3]
            key: list[Any] = list(row[4 : 4 + len(in_facts)])
            rest = list(row[4 + len(in_facts) :])
            for index, part in enumerate(raw):
                flat, nested = rest[2 * index], rest[2 * index + 1]
                first, second = (flat, nested) if platform == "kobo" else (nested, flat)
                value = first if first is not None else second
                key.append(typed(value, questions[part.name].type))
            yield row[0], row[1], str(row[2]), tuple(str(v) if isinstance(v, int | float) else v for v in key)
