"""Keeping facts and inputs in step with the submission store, in batches, never all submissions at once.

A full rebuild streams every live submission by id (keyset pages of `batch` rows) and writes its facts and
inputs. An incremental refresh streams only submissions written since the last run (`analysis.changes`), by
stamp and id: a submission whose content hash is the one its facts were built from (stamped again by a
reconciliation, say) is skipped before its JSON is read; an edited submission's facts are replaced, a deleted
one's removed. Each page yields, per indicator, the input rows that went and came (`analysis.aggregate.Change`),
which is all the values need to follow.
"""

import json
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, insert, or_, select
from sqlmodel import Session, col

from analysis.aggregate import Change
from analysis.changes import Mark, changed_since, stamp
from analysis.engine import Engine
from analysis.facts import submission_facts
from analysis.measures import IndicatorPlan, InputRow
from analysis.tables import MAX_DISAGGREGATIONS, Fact, IndicatorInput, table_of
from sync.tables import Connection, RemoteForm, Submission

DIMS = tuple(f"d{i}" for i in range(1, MAX_DISAGGREGATIONS + 1))
Built = list[tuple[str, InputRow]]
"""Input rows of one submission, each with its indicator's code."""


@dataclass
class Page:
    """One page of changed submissions: how many were stamped, how many of those were read and rebuilt (the
    others had no new content), and what they changed, per indicator."""

    stamped: int
    submissions: int
    changes: dict[str, Change]


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
            select(Submission.id, Submission.deleted, Submission.data, Submission.content_hash)
            .where(*clauses, col(Submission.id) > last)
            .order_by(col(Submission.id))
            .limit(batch)
        )
        page = list(session.execute(query))
        if not page:
            return
        yield page
        last = page[-1][0]


def _stamped_pages(session: Session, clauses: list[ColumnElement[bool]], batch: int) -> Iterator[list[Any]]:
    """Stamped submissions in (stamp, id) order, `batch` at a time, without their JSON: a keyset on the stamp
    index, so a page costs the same however many submissions were written since."""
    last: tuple[int, int] | None = None
    while True:
        after = [] if last is None else [stamp >= last[0], or_(stamp > last[0], col(Submission.id) > last[1])]
        query = (
            select(Submission.id, Submission.deleted, Submission.content_hash, stamp)
            .where(*clauses, *after)
            .order_by(stamp, col(Submission.id))
            .limit(batch)
        )
        page = list(session.execute(query))
        if not page:
            return
        yield page
        last = (page[-1][3], page[-1][0])


def _built_hashes(session: Session, ids: list[int]) -> dict[int, str | None]:
    """The content hash each submission's facts were built from (absent: it has no facts)."""
    query = select(Fact.submission_id, Fact.content_hash).where(
        col(Fact.submission_id).in_(ids), col(Fact.row_index) == 0
    )
    return {row[0]: row[1] for row in session.execute(query)}


def _with_new_content(session: Session, page: list[Any]) -> list[Any]:
    """The stamped submissions whose facts must change, with their JSON: a live one whose facts were built from
    another content (or never), a deleted one that still has facts."""
    built = _built_hashes(session, [row[0] for row in page])
    wanted = [
        submission_id
        for submission_id, deleted, digest, _stamp in page
        if (submission_id in built if deleted else built.get(submission_id, "") != digest)
    ]
    if not wanted:
        return []
    query = (
        select(Submission.id, Submission.deleted, Submission.data, Submission.content_hash)
        .where(col(Submission.id).in_(wanted))
        .order_by(col(Submission.id))
    )
    return list(session.execute(query))


class _Builder:
    """Facts and input rows of submissions of one source."""

    def __init__(self, engine: Engine, source: Source, secret: bytes) -> None:
        self.engine = engine
        self.source = source
        self.secret = secret
        self.plan = engine.forms[source.form_id]
        self.indicators: list[IndicatorPlan] = engine.on_form(source.form_id)
        self.periods = engine.periods

    def build(self, submission_id: int, data: Any, content_hash: str) -> tuple[list[dict[str, Any]], Built]:
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
                "content_hash": content_hash if row.row_index == 0 else None,
            }
            for row in rows
        ]
        inputs: Built = []
        for indicator in self.indicators:
            for row in rows:
                found = indicator.input_row(row, submission_id, self.periods)
                if found is not None:
                    inputs.append((indicator.code, found))
        return facts, inputs


def _input_record(code: str, row: InputRow) -> dict[str, Any]:
    dims = dict(zip(DIMS, row.dims, strict=False))
    return {
        "indicator": code,
        "submission_id": row.submission_id,
        "row_index": row.row_index,
        "period": row.period,
        **{name: dims.get(name) for name in DIMS},
        "a_value": row.a_value,
        "a_unit": row.a_unit,
        "b_value": row.b_value,
        "b_unit": row.b_unit,
    }


def _write(session: Session, facts: list[dict[str, Any]], inputs: Built) -> None:
    records = [_input_record(code, row) for code, row in inputs]
    if session.get_bind().dialect.name == "postgresql":
        _copy(session, table_of(Fact), facts, json_columns=("dims", "values"))
        _copy(session, table_of(IndicatorInput), records)
        return
    if facts:
        session.execute(insert(table_of(Fact)), facts)
    if records:
        session.execute(insert(table_of(IndicatorInput)), records)


def _copy(session: Session, table: Table, rows: list[dict[str, Any]], *, json_columns: tuple[str, ...] = ()) -> None:
    """PostgreSQL's COPY, in the session's transaction: a full rebuild writes millions of fact and input rows,
    several times faster this way than as INSERTs."""
    if not rows:
        return
    names = list(rows[0])
    columns = ", ".join(f'"{name}"' for name in names)
    driver = session.connection().connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([json.dumps(row[n]) if n in json_columns else row[n] for n in names])


def rebuild_all(session: Session, engine: Engine, secret: bytes, now: Mark, *, batch: int = 500) -> int:
    """Drop every fact and input and rebuild them from the live submissions `now` has seen (a write it has not
    is the next run's); returns how many were read."""
    session.execute(delete(IndicatorInput))
    session.execute(delete(Fact))
    count = 0
    for source in sources(session, engine):
        builder = _Builder(engine, source, secret)
        clauses = [
            col(Submission.remote_form_id) == source.remote_form_id,
            col(Submission.deleted).is_(False),
            now.seen(),
        ]
        for page in _pages(session, clauses, batch):
            facts: list[dict[str, Any]] = []
            inputs: Built = []
            for submission_id, _deleted, data, content_hash in page:
                built_facts, built_inputs = builder.build(submission_id, data, content_hash)
                facts.extend(built_facts)
                inputs.extend(built_inputs)
            _write(session, facts, inputs)
            count += len(page)
    return count


def _stored_inputs(session: Session, engine: Engine, ids: list[int]) -> dict[int, dict[str, list[InputRow]]]:
    """The stored input rows of these submissions, by submission and indicator."""
    columns = [col(getattr(IndicatorInput, name)) for name in ("indicator", "period", "row_index", *DIMS)]
    sides = [col(getattr(IndicatorInput, name)) for name in ("a_value", "a_unit", "b_value", "b_unit")]
    query = select(col(IndicatorInput.submission_id), *columns, *sides).where(
        col(IndicatorInput.submission_id).in_(ids)
    )
    stored: dict[int, dict[str, list[InputRow]]] = defaultdict(lambda: defaultdict(list))
    for submission_id, code, period, row_index, *rest in session.execute(query):
        plan = engine.indicators.get(code)
        if plan is None:
            continue
        dims, (a_value, a_unit, b_value, b_unit) = rest[: len(plan.dims)], rest[MAX_DISAGGREGATIONS:]
        row = InputRow(submission_id, period, row_index, tuple(dims), a_value, a_unit, b_value, b_unit)
        stored[submission_id][code].append(row)
    return stored


def _changes(submission_id: int, old: Mapping[str, list[InputRow]], new: Built) -> dict[str, Change]:
    """Per indicator, the rows of one submission that went and came, when they differ at all."""
    fresh: dict[str, list[InputRow]] = defaultdict(list)
    for code, row in new:
        fresh[code].append(row)
    changes: dict[str, Change] = {}
    for code in old.keys() | fresh.keys():
        removed, added = old.get(code, []), fresh.get(code, [])
        if sorted(removed, key=repr) != sorted(added, key=repr):
            changes[code] = Change(removed, added, {submission_id})
    return changes


def refresh_changed(
    session: Session, engine: Engine, secret: bytes, before: Mark, now: Mark, *, batch: int = 500
) -> Iterator[Page]:
    """Replace the facts of submissions written after `before` and seen by `now`, a page at a time; yields what
    each page changed once it is written (so that the stored inputs are the new ones)."""
    for source in sources(session, engine):
        builder = _Builder(engine, source, secret)
        for clause in changed_since(before, now):
            clauses = [col(Submission.remote_form_id) == source.remote_form_id, clause]
            for stamped in _stamped_pages(session, clauses, batch):
                page = _with_new_content(session, stamped)
                yield _refresh_page(session, engine, builder, page, len(stamped))


def _refresh_page(session: Session, engine: Engine, builder: "_Builder", page: list[Any], stamped: int) -> Page:
    """Replace the facts of one page of submissions with new content; returns what that changed."""
    if not page:
        return Page(stamped, 0, {})
    ids = [row[0] for row in page]
    before = _stored_inputs(session, engine, ids)
    session.execute(delete(IndicatorInput).where(col(IndicatorInput.submission_id).in_(ids)))
    session.execute(delete(Fact).where(col(Fact.submission_id).in_(ids)))
    facts: list[dict[str, Any]] = []
    inputs: Built = []
    changes: dict[str, Change] = defaultdict(Change)
    for submission_id, deleted, data, content_hash in page:
        built_facts, built_inputs = ([], []) if deleted else builder.build(submission_id, data, content_hash)
        facts.extend(built_facts)
        inputs.extend(built_inputs)
        for code, change in _changes(submission_id, before.get(submission_id, {}), built_inputs).items():
            changes[code].removed.extend(change.removed)
            changes[code].added.extend(change.added)
            changes[code].submissions.update(change.submissions)
    _write(session, facts, inputs)
    return Page(stamped, len(page), dict(changes))
