"""Raw submissions for the few who may read them: the SERA officer (everything) and a partner (its own, without
the answers that identify people or that are kept out of general analysis)."""

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from analysis.tables import Fact
from catalogue.model import Catalogue, walk_questions
from sync.tables import Connection, RemoteForm, Submission


@dataclass(frozen=True)
class SubmissionOut:
    connection: str
    form_id: str
    remote_id: str
    root_id: str
    instance_id: str | None
    form_version: str | None
    submitted_at: dt.datetime | None
    updated_at: dt.datetime | None
    deleted: bool
    data: dict[str, Any]


def protected_questions(catalogue: Catalogue, form_id: str) -> set[str]:
    """Names of the form's `pii` and `sensitive` questions."""
    form = next((f for f in catalogue.forms if f.id == form_id), None)
    if form is None:
        return set()
    return {q.name for _path, q in walk_questions(form.questions) if q.pii or q.sensitive}


def without_answers(data: Any, names: Collection[str]) -> Any:
    """The raw JSON less the answers to these questions, whatever the shape: Kobo's flat paths
    (`details/full_name`, repeats keyed by full paths) and ODK's nested groups alike."""
    if isinstance(data, dict):
        return {
            key: without_answers(value, names)
            for key, value in data.items()
            if not isinstance(key, str) or key.rsplit("/", 1)[-1] not in names
        }
    if isinstance(data, list):
        return [without_answers(item, names) for item in data]
    return data


def submissions_page(
    session: Session,
    catalogue: Catalogue,
    *,
    connection: str | None = None,
    form: str | None = None,
    include_deleted: bool = False,
    organisation: str | None = None,
    offset: int = 0,
    limit: int = 100,
) -> tuple[list[SubmissionOut], int]:
    """Submissions in server order; with `organisation`, only that partner's, with protected answers removed.

    A partner's submissions are those whose organisation question names it (as the indicator facts read it),
    so `sera indicators compute` must have run since they arrived.
    """
    query = (
        select(Submission, Connection.name, RemoteForm.form_id)
        .join(RemoteForm, col(RemoteForm.id) == Submission.remote_form_id)
        .join(Connection, col(Connection.id) == RemoteForm.connection_id)
    )
    if connection is not None:
        query = query.where(Connection.name == connection)
    if form is not None:
        query = query.where(RemoteForm.form_id == form)
    if not include_deleted:
        query = query.where(col(Submission.deleted).is_(False))
    if organisation is not None:
        own = select(Fact.submission_id).where(Fact.organisation == organisation, Fact.row_index == 0)
        query = query.where(col(Submission.id).in_(own))
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.order_by(col(Submission.id)).offset(offset).limit(limit)).all()
    items = []
    for submission, connection_name, form_id in rows:
        data = submission.data
        if organisation is not None:
            data = without_answers(data, protected_questions(catalogue, form_id))
        items.append(
            SubmissionOut(
                connection=connection_name,
                form_id=form_id,
                remote_id=submission.remote_id,
                root_id=submission.root_id,
                instance_id=submission.instance_id,
                form_version=submission.form_version,
                submitted_at=submission.submitted_at,
                updated_at=submission.updated_at,
                deleted=submission.deleted,
                data=data,
            )
        )
    return items, int(total)
