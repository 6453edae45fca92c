"""Reading one form's submissions of one quarter for the quality checks: streamed, and only the answers needed.

The quarter's submissions are found through their typed facts (`analysis_fact`, indexed on form and period), so
a check never walks a whole form. The few raw answers a check needs that the facts do not keep (a count that no
indicator reads, a repeat's rows) are extracted by the database from the stored JSON, one JSON path per question,
never the whole document; rows come through a server-side cursor, a page at a time, so memory stays flat.
"""

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlmodel import Session, col

from analysis.answers import Path, as_date, lookup, typed
from analysis.facts import Located
from analysis.tables import Fact
from sync.tables import Connection, RemoteForm, Submission

PAGE = 500
"""Rows fetched per round trip while streaming."""


@dataclass(frozen=True)
class Wanted:
    """The raw answers one scan extracts: questions outside repeats, and repeats with the questions read in them."""

    root: tuple[str, ...] = ()
    repeats: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, names: Iterable[str], questions: Mapping[str, Located]) -> "Wanted":
        """Questions by scope; questions in a repeat inside a repeat are left out (none in the catalogue)."""
        root: list[str] = []
        repeats: dict[str, list[str]] = {}
        for name in dict.fromkeys(names):
            located = questions.get(name)
            if located is None or located.pii:
                continue
            if not located.scope:
                root.append(name)
                continue
            repeat = located.scope[-1]
            outer = questions.get(repeat)
            if outer is not None and outer.path == located.scope and not outer.scope:
                repeats.setdefault(repeat, []).append(name)
        return cls(tuple(root), {r: tuple(names) for r, names in repeats.items()})


def _device_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class ScanRow:
    """One submission of the quarter, as the checks see it (never a person key, never a pii answer)."""

    submission_id: int
    remote_id: str
    remote_form_id: int
    platform: str
    organisation: str | None
    grant: str | None
    """The submission's `grant` dimension value, when its form feeds one."""
    activity_date: dt.date | None
    submitted_at: dt.datetime | None
    updated_at: dt.datetime | None
    form_version: str | None
    device_end: dt.datetime | None
    """When the phone last saved it (the `end` metadata): for an edit made on a phone, the edit."""
    edited: bool
    """Its content changed since it was first received (the current instanceID is not the first one)."""
    answers: dict[str, Any]
    """Typed answers of the wanted questions outside repeats (absent answers are None)."""
    repeats: dict[str, list[dict[str, Any]]]
    """Each wanted repeat's instances, with the typed answers of its wanted questions."""

    @property
    def last_seen(self) -> dt.date | None:
        """The last day the submission is known to have been written: received, edited on the server or on a
        phone. An answer constrained to `today()` may be up to that day."""
        times = [t for t in (self.submitted_at, self.updated_at, self.device_end) if t is not None]
        return max(times).date() if times else None

    @property
    def last_changed(self) -> dt.date | None:
        """The last day its content changed: received, or edited (ODK Central's `updatedAt`, else the edit's `end`
        time on the phone). A review on the server (ODK `updatedAt` moves then too) is no change of content."""
        times = [self.submitted_at]
        if self.edited:
            times += [self.updated_at, self.device_end]
        known = [t for t in times if t is not None]
        return max(known).date() if known else None


def _prefer(platform: str, flat: Any, nested: Any) -> Any:
    """Kobo keeps flat XPath keys; ODK Central nests groups. Each layout is tried first on its own platform."""
    first, second = (flat, nested) if platform == "kobo" else (nested, flat)
    return first if first is not None else second


def scan(
    session: Session,
    form_id: str,
    questions: Mapping[str, Located],
    wanted: Wanted,
    clauses: list[ColumnElement[bool]],
) -> Iterator[ScanRow]:
    """The live submissions of a form whose fact row matches `clauses`, streamed (in no particular order)."""
    data = col(Submission.data)
    extracted: list[Any] = []
    for name in wanted.root:
        path = questions[name].path
        extracted += [data["/".join(path)].as_string(), data[path].as_string() if len(path) > 1 else None]
    for repeat in wanted.repeats:
        path = questions[repeat].path
        extracted += [data["/".join(path)], data[path] if len(path) > 1 else None]
    columns = [column for column in extracted if column is not None]
    query = (
        select(
            col(Fact.submission_id),
            col(Submission.remote_id),
            col(Submission.remote_form_id),
            col(Connection.platform),
            col(Fact.organisation),
            col(Fact.dims)["grant"].as_string(),
            col(Fact.activity_date),
            col(Submission.submitted_at),
            col(Submission.updated_at),
            col(Submission.form_version),
            col(Submission.device_end),
            col(Submission.instance_id),
            col(Submission.root_id),
            *columns,
        )
        .select_from(Fact)
        .join(Submission, col(Submission.id) == col(Fact.submission_id))
        .join(RemoteForm, col(RemoteForm.id) == col(Submission.remote_form_id))
        .join(Connection, col(Connection.id) == col(RemoteForm.connection_id))
        .where(col(Fact.form_id) == form_id, col(Fact.row_index) == 0, col(Submission.deleted).is_(False), *clauses)
        .execution_options(yield_per=PAGE)
    )
    for row in session.execute(query):
        platform = row[3]
        values = iter(row[13:])
        answers: dict[str, Any] = {}
        for name in wanted.root:
            path = questions[name].path
            flat = next(values)
            nested = next(values) if len(path) > 1 else None
            answers[name] = typed(_prefer(platform, flat, nested), questions[name].type)
        repeats: dict[str, list[dict[str, Any]]] = {}
        for repeat, names in wanted.repeats.items():
            path = questions[repeat].path
            flat = next(values)
            nested = next(values) if len(path) > 1 else None
            items = _prefer(platform, flat, nested)
            repeats[repeat] = [
                {name: _typed_in(item, path, questions[name], platform) for name in names}
                for item in (items if isinstance(items, list) else [])
                if isinstance(item, Mapping)
            ]
        yield ScanRow(
            submission_id=row[0],
            remote_id=str(row[1]),
            remote_form_id=row[2],
            platform=platform,
            organisation=row[4],
            grant=row[5],
            activity_date=as_date(row[6]),
            submitted_at=row[7],
            updated_at=row[8],
            form_version=row[9],
            device_end=_device_time(row[10]),
            edited=row[11] is not None and row[11] != row[12],
            answers=answers,
            repeats=repeats,
        )


def _typed_in(item: Mapping[str, Any], repeat: Path, question: Located, platform: str) -> Any:
    return typed(lookup(item, repeat, question.path, platform), question.type)
