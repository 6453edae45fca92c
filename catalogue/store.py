"""Loading a catalogue into SQL, and reading the current one back.

Loading is idempotent: an entity whose content is unchanged is left alone, so loading the same file twice
writes nothing. A changed entity gets a new version carrying the revision (date, reason, rationale) the file
gives for it, or the catalogue's; a change whose revision is the same as the stored version's is refused, so
no target or definition ever changes without a dated rationale. Nothing here commits: the caller owns the unit
of work, so a refused load leaves the database as it was.
"""

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session, SQLModel, col, delete, select

from catalogue.model import (
    Catalogue,
    ChoiceList,
    Dimension,
    FormSpec,
    Indicator,
    Programme,
    ResultNode,
    Revision,
)
from catalogue.periods import programme_periods
from catalogue.reference import dimension_values
from catalogue.tables import (
    CatalogueLoad,
    ChoiceListVersion,
    DimensionValueRow,
    DimensionVersion,
    FormVersion,
    IndicatorDisaggregation,
    IndicatorReference,
    IndicatorTarget,
    IndicatorVersion,
    Period,
    ProgrammeVersion,
    ResultVersion,
    Versioned,
)


class RevisionRequired(Exception):
    """Entities changed without a new revision; `changes` names each one."""

    def __init__(self, changes: Sequence[str]) -> None:
        self.changes = list(changes)
        super().__init__(
            "these entities changed but their revision (date, reason, rationale) is the one already stored; "
            "give them a new `revision` (or a new catalogue `revision`):\n  " + "\n  ".join(self.changes)
        )


def canonical_hash(data: Any) -> str:
    """A stable hash of JSON-able data: the same content always gives the same hash."""
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def content_of(entity: BaseModel) -> dict[str, Any]:
    """What an entity says, without its revision: the part whose change makes a new version."""
    return entity.model_dump(mode="json", exclude={"revision"})


@dataclass(frozen=True)
class _Kind:
    """How one section of the catalogue maps onto its versioned table and child rows."""

    noun: str
    table: type[Versioned]
    code: Callable[[Any], str]
    columns: Callable[[Any], dict[str, Any]]
    children: Callable[[Any, int], list[SQLModel]] = lambda _entity, _version_id: []
    extra_hash: Callable[[Any], Any] = lambda _entity: None


def _result_columns(node: ResultNode) -> dict[str, Any]:
    return {"level": node.level.value, "parent_code": node.parent, "title_fr": node.title.fr, "title_ar": node.title.ar}


def _dimension_columns(dim: Dimension) -> dict[str, Any]:
    return {
        "name_fr": dim.name.fr,
        "name_ar": dim.name.ar,
        "parent_code": dim.parent,
        "reference": dim.reference.value if dim.reference else None,
        "sensitive": dim.sensitive,
    }


def _dimension_children(dim: Dimension, version_id: int) -> list[SQLModel]:
    return [
        DimensionValueRow(
            dimension_version_id=version_id,
            code=value.code,
            label_fr=value.label.fr,
            label_ar=value.label.ar,
            parent_code=value.parent,
            position=position,
            attributes=dict(value.attributes),
        )
        for position, value in enumerate(dimension_values(dim))
    ]


def _indicator_columns(ind: Indicator) -> dict[str, Any]:
    return {
        "result_code": ind.result,
        "name_fr": ind.name.fr,
        "name_ar": ind.name.ar,
        "measure_type": ind.measure_type.value,
        "direction": ind.direction.value,
        "frequency": ind.frequency.value,
        "time_aggregation": ind.time_aggregation.value,
        "baseline_value": ind.baseline.value,
        "baseline_numerator": ind.baseline.numerator,
        "baseline_denominator": ind.baseline.denominator,
        "baseline_date": ind.baseline.date,
        "measure_form": ind.measure.form,
        "measure_aggregation": ind.measure.aggregation.value,
    }


def split_key(by: dict[str, str]) -> str:
    """A dimension split as one sortable key: `profile=tcn;sex=female`."""
    return ";".join(f"{dim}={value}" for dim, value in sorted(by.items()))


def _indicator_children(ind: Indicator, version_id: int) -> list[SQLModel]:
    rows: list[SQLModel] = [
        IndicatorTarget(
            indicator_version_id=version_id,
            period_code=target.period,
            split=split_key(target.by),
            by=dict(target.by),
            value=target.value,
        )
        for target in ind.targets
    ]
    rows += [
        IndicatorDisaggregation(indicator_version_id=version_id, dimension_code=code, position=position)
        for position, code in enumerate(ind.disaggregations)
    ]
    rows += [
        IndicatorReference(indicator_version_id=version_id, vocabulary=ref.vocabulary, code=ref.code, uri=ref.uri)
        for ref in ind.references
    ]
    return rows


_PROGRAMME = _Kind(
    "programme",
    ProgrammeVersion,
    lambda p: p.code,
    lambda p: {"title_fr": p.title.fr, "title_ar": p.title.ar, "start": p.start, "end": p.end},
)
_KINDS: dict[str, _Kind] = {
    "results": _Kind("result", ResultVersion, lambda n: n.code, _result_columns),
    "dimensions": _Kind(
        "dimension",
        DimensionVersion,
        lambda d: d.code,
        _dimension_columns,
        _dimension_children,
        # Reference sets ship with the product: a new release of them is a change of the dimension.
        lambda d: [v.model_dump(mode="json") for v in dimension_values(d)] if d.reference else None,
    ),
    "choice_lists": _Kind("choice list", ChoiceListVersion, lambda c: c.name, lambda _c: {}),
    "indicators": _Kind("indicator", IndicatorVersion, lambda i: i.code, _indicator_columns, _indicator_children),
    "forms": _Kind(
        "form",
        FormVersion,
        lambda f: f.id,
        lambda f: {"title_fr": f.title.fr, "title_ar": f.title.ar, "audience": f.audience.value},
    ),
}
_MODELS: dict[str, type[BaseModel]] = {
    "results": ResultNode,
    "dimensions": Dimension,
    "choice_lists": ChoiceList,
    "indicators": Indicator,
    "forms": FormSpec,
}


@dataclass
class LoadReport:
    """What a load did: the versions it wrote, as `kind code vN (what)` lines."""

    changes: list[str] = field(default_factory=list)
    load_id: int | None = None

    @property
    def changed(self) -> bool:
        return bool(self.changes)


@dataclass
class _Pending:
    kind: _Kind
    entity: Any
    position: int
    content: dict[str, Any]
    digest: str
    revision: Revision
    previous: Versioned | None
    retire: bool = False


def _plan(
    session: Session, kind: _Kind, entities: Sequence[Any], default: Revision
) -> tuple[list[_Pending], list[tuple[Versioned, int]]]:
    """Which entities need a new version, and which current rows only moved in the file."""
    current = {row.code: row for row in session.exec(select(kind.table).where(col(kind.table.current)))}
    pending: list[_Pending] = []
    moved: list[tuple[Versioned, int]] = []
    seen: set[str] = set()
    for position, entity in enumerate(entities):
        code = kind.code(entity)
        seen.add(code)
        content = content_of(entity)
        digest = canonical_hash([content, kind.extra_hash(entity)])
        previous = current.get(code)
        revision = getattr(entity, "revision", None) or default
        if previous is not None and not previous.retired and previous.content_hash == digest:
            if previous.position != position:
                moved.append((previous, position))
            continue
        pending.append(_Pending(kind, entity, position, content, digest, revision, previous))
    for code, row in current.items():
        if code not in seen and not row.retired:
            pending.append(_Pending(kind, None, row.position, {}, "", default, row, retire=True))
    return pending, moved


def _same_revision(row: Versioned, revision: Revision) -> bool:
    return (row.revision_date, row.revision_reason, row.revision_rationale) == (
        revision.date,
        revision.reason.value,
        revision.rationale,
    )


def load_catalogue(session: Session, catalogue: Catalogue, source: str) -> LoadReport:
    """Bring the database to the catalogue, writing a new version of each entity that changed.

    Raises RevisionRequired (and writes nothing) when an entity changed without a new revision.
    """
    default = catalogue.revision
    plans: list[_Pending] = []
    moves: list[tuple[Versioned, int]] = []
    sections: list[tuple[_Kind, Sequence[Any]]] = [(_PROGRAMME, [catalogue.programme])]
    sections += [(kind, getattr(catalogue, section)) for section, kind in _KINDS.items()]
    for kind, entities in sections:
        pending, moved = _plan(session, kind, entities, default)
        plans += pending
        moves += moved
    stale = [
        f"{p.kind.noun} '{p.previous.code}' (stored as version {p.previous.version} of {p.previous.revision_date})"
        for p in plans
        if p.previous is not None and not p.previous.retired and _same_revision(p.previous, p.revision)
    ]
    if stale:
        raise RevisionRequired(stale)
    report = LoadReport()
    for row, position in moves:
        row.position = position
        session.add(row)
    if plans:
        load = CatalogueLoad(
            programme_code=catalogue.programme.code,
            source=source,
            content_hash=canonical_hash(catalogue.model_dump(mode="json")),
            revision_date=default.date,
            revision_reason=default.reason.value,
            revision_rationale=default.rationale,
            versions_written=len(plans),
        )
        session.add(load)
        session.flush()
        assert load.id is not None
        report.load_id = load.id
        for plan in plans:
            report.changes.append(_write(session, plan, load.id))
    _write_periods(session, catalogue.programme)
    session.flush()
    return report


def _write(session: Session, plan: _Pending, load_id: int) -> str:
    previous = plan.previous
    version = previous.version + 1 if previous is not None else 1
    if previous is not None:
        previous.current = False
        session.add(previous)
        session.flush()
    code = previous.code if plan.retire and previous is not None else plan.kind.code(plan.entity)
    row = plan.kind.table(
        code=code,
        version=version,
        current=True,
        retired=plan.retire,
        position=plan.position,
        content_hash=plan.digest,
        content=plan.content,
        revision_date=plan.revision.date,
        revision_reason=plan.revision.reason.value,
        revision_rationale=plan.revision.rationale,
        load_id=load_id,
        **({} if plan.retire else plan.kind.columns(plan.entity)),
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    if not plan.retire:
        session.add_all(plan.kind.children(plan.entity, row.id))
    what = "retired" if plan.retire else ("new" if previous is None else "changed")
    return f"{plan.kind.noun} {code} v{version} ({what})"


def _write_periods(session: Session, programme: Programme) -> None:
    """Periods follow the programme's dates; they are derived data, so they are replaced, not versioned."""
    wanted = [
        Period(code=p.code, kind=p.kind, start=p.start, end=p.end, position=i)
        for i, p in enumerate(programme_periods(programme))
    ]
    stored = {p.code: p for p in session.exec(select(Period))}
    if {code: (p.kind, p.start, p.end, p.position) for code, p in stored.items()} == {
        p.code: (p.kind, p.start, p.end, p.position) for p in wanted
    }:
        return
    session.exec(delete(Period))
    session.add_all(wanted)


def latest_load(session: Session) -> CatalogueLoad | None:
    return session.exec(select(CatalogueLoad).order_by(col(CatalogueLoad.id).desc()).limit(1)).first()


def current_rows(session: Session, table: type[Versioned]) -> list[Any]:
    """Current, non-retired versions of one kind, in catalogue order."""
    query = select(table).where(col(table.current), col(table.retired).is_(False)).order_by(col(table.position))
    return list(session.exec(query))


def revision_of(row: Versioned) -> Revision:
    return Revision(date=row.revision_date, reason=row.revision_reason, rationale=row.revision_rationale)  # type: ignore[arg-type]


class NoCatalogue(Exception):
    """The database holds no catalogue yet."""


def stored_catalogue(session: Session) -> Catalogue:
    """The current catalogue as the database holds it, ready to export or to build forms from."""
    load = latest_load(session)
    programme_rows = current_rows(session, ProgrammeVersion)
    if load is None or not programme_rows:
        raise NoCatalogue("no catalogue is loaded: run `sera catalogue load` first")
    default = Revision(date=load.revision_date, reason=load.revision_reason, rationale=load.revision_rationale)  # type: ignore[arg-type]

    def entity(model: type[BaseModel], row: Versioned) -> Any:
        revision = revision_of(row)
        data = dict(row.content)
        if "revision" in model.model_fields and revision != default:
            data["revision"] = revision.model_dump(mode="json")
        return model.model_validate(data)

    sections = {
        section: [entity(_MODELS[section], row) for row in current_rows(session, kind.table)]
        for section, kind in _KINDS.items()
    }
    return Catalogue(
        sera_catalogue=1,
        programme=Programme.model_validate(programme_rows[0].content),
        revision=default,
        **sections,
    )
