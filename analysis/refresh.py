"""Keeping facts and inputs in step with the submission store, in batches, never all submissions at once.

A full rebuild streams every live submission by id (keyset pages of `batch` rows) and writes its facts and
inputs. An incremental refresh streams only submissions whose `changed_at` is after the watermark: an edited
submission's facts are replaced, a deleted one's removed. The (indicator, quarter) pairs whose inputs differ
before and after are what the values must be recomputed for; a submission re-read with nothing new touches
nothing.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, delete, insert, select
from sqlmodel import Session, col

from analysis.engine import Engine
from analysis.facts import submission_facts
from analysis.measures import IndicatorPlan
from analysis.tables import MAX_DISAGGREGATIONS, Fact, IndicatorInput, table_of
from sync.tables import Connection, RemoteForm, Submission

Touched = dict[str, set[str]]
"""Indicator code → quarters whose inputs changed."""

INPUT_COLUMNS = (
    "indicator",
    "row_index",
    "period",
    *(f"d{i}" for i in range(1, MAX_DISAGGREGATIONS + 1)),
    "a_value",
    "a_unit",
    "b_value",
    "b_unit",
)


@dataclass(frozen=True)
class Source:
    """A remote form whose submissions feed a catalogue form, and the platform that shaped its JSON."""

    remote_form_id: int
    form_id: str
    platform: str


def sources(session: Session, engine: Engine) -> list[Source]:
    """Every linked remote form of a catalogue form (one catalogue form may be on several servers)."""
    query = (
        select(RemoteForm.id, RemoteForm.form_id, Connection.platform)
        .join(Connection, col(Connection.id) == col(RemoteForm.connection_id))
        .order_by(col(RemoteForm.id))
    )
    return [
        Source(remote_id, form_id, platform)
        for remote_id, form_id, platform in session.execute(query)
        if form_id in engine.forms
    ]


def _pages(session: Session, clauses: list[ColumnElement[bool]], batch: int) -> Iterator[list[Any]]:
    """Submissions in id order, `batch` at a time (keyset paging: each page is one indexed query)."""
    last = 0
    while True:
        query = (
            select(Submission.id, Submission.deleted, Submission.data)
            .where(*clauses, col(Submission.id) > last)
            .order_by(col(Submission.id))
            .limit(batch)
        )
        page = list(session.execute(query))
        if not page:
            return
        yield page
        last = page[-1][0]


class _Builder:
    """Facts and input rows of submissions of one source."""

    def __init__(self, engine: Engine, source: Source, secret: bytes) -> None:
        self.engine = engine
        self.source = source
        self.secret = secret
        self.plan = engine.forms[source.form_id]
        self.indicators: list[IndicatorPlan] = engine.on_form(source.form_id)
        self.periods = engine.periods

    def build(self, submission_id: int, data: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        if not isinstance(data, Mapping):
            return [], []
        rows = submission_facts(data, self.plan, self.source.platform, self.secret)
        facts = [
            {
                "submission_id": submission_id,
                "remote_form_id": self.source.remote_form_id,
                "form_id": self.source.form_id,
                "row_index": row.row_index,
                "repeat": row.repeat,
                "activity_date": row.activity_date,
                "period": row.period,
                "person_key": row.person_key,
                "organisation": row.organisation,
                "dims": row.dims,
                "values": row.values_json(),
            }
            for row in rows
        ]
        inputs = []
        for indicator in self.indicators:
            for row in rows:
                found = indicator.input_row(row, submission_id, self.periods)
                if found is None:
                    continue
                dims = {f"d{i}": value for i, value in enumerate(found.dims, 1)}
                inputs.append(
                    {
                        "indicator": indicator.code,
                        "submission_id": submission_id,
                        "row_index": found.row_index,
                        "period": found.period,
                        **{f"d{i}": None for i in range(1, MAX_DISAGGREGATIONS + 1)},
                        **dims,
                        "a_value": found.a_value,
                        "a_unit": found.a_unit,
                        "b_value": found.b_value,
                        "b_unit": found.b_unit,
                    }
                )
        return facts, inputs


def _write(session: Session, facts: list[dict[str, Any]], inputs: list[dict[str, Any]]) -> None:
    if facts:
        session.execute(insert(table_of(Fact)), facts)
    if inputs:
        session.execute(insert(table_of(IndicatorInput)), inputs)


def rebuild_all(session: Session, engine: Engine, secret: bytes, *, batch: int = 500) -> int:
    """Drop every fact and input and rebuild them from the live submissions; returns how many were read."""
    session.execute(delete(IndicatorInput))
    session.execute(delete(Fact))
    count = 0
    for source in sources(session, engine):
        builder = _Builder(engine, source, secret)
        clauses = [col(Submission.remote_form_id) == source.remote_form_id, col(Submission.deleted).is_(False)]
        for page in _pages(session, clauses, batch):
            facts: list[dict[str, Any]] = []
            inputs: list[dict[str, Any]] = []
            for submission_id, _deleted, data in page:
                built_facts, built_inputs = builder.build(submission_id, data)
                facts.extend(built_facts)
                inputs.extend(built_inputs)
            _write(session, facts, inputs)
            count += len(page)
    return count


def _input_key(row: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(row[name] for name in INPUT_COLUMNS)


def _stored_inputs(session: Session, ids: list[int]) -> dict[int, list[tuple[Any, ...]]]:
    columns = [col(getattr(IndicatorInput, name)) for name in INPUT_COLUMNS]
    query = select(col(IndicatorInput.submission_id), *columns).where(col(IndicatorInput.submission_id).in_(ids))
    stored: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in session.execute(query):
        stored[row[0]].append(tuple(row[1:]))
    return stored


def refresh_changed(
    session: Session, engine: Engine, secret: bytes, since: dt.datetime, *, batch: int = 500
) -> tuple[int, Touched]:
    """Replace the facts of submissions changed after `since`; returns how many were read and what they touched."""
    touched: Touched = defaultdict(set)
    count = 0
    for source in sources(session, engine):
        builder = _Builder(engine, source, secret)
        clauses = [col(Submission.remote_form_id) == source.remote_form_id, col(Submission.changed_at) > since]
        for page in _pages(session, clauses, batch):
            ids = [row[0] for row in page]
            before = _stored_inputs(session, ids)
            session.execute(delete(IndicatorInput).where(col(IndicatorInput.submission_id).in_(ids)))
            session.execute(delete(Fact).where(col(Fact.submission_id).in_(ids)))
            facts: list[dict[str, Any]] = []
            inputs: list[dict[str, Any]] = []
            for submission_id, deleted, data in page:
                built_facts, built_inputs = ([], []) if deleted else builder.build(submission_id, data)
                facts.extend(built_facts)
                inputs.extend(built_inputs)
                old = sorted(before.get(submission_id, []), key=repr)
                new = sorted((_input_key(row) for row in built_inputs), key=repr)
                if old != new:
                    for row in (*old, *new):
                        touched[row[0]].add(row[2])
            _write(session, facts, inputs)
            count += len(page)
    return count, dict(touched)
