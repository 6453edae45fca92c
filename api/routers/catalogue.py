"""The catalogue as consumers read it: the results chain and the indicators with baselines, targets, history."""

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Limit, Offset, SessionDep
from api.errors import ERROR_RESPONSES, NotFound
from api.schemas import (
    HistoryEntry,
    IndicatorDetail,
    IndicatorSummary,
    Page,
    ResultOut,
    RevisionOut,
    TargetOut,
)
from catalogue.queries import (
    ResultTreeNode,
    changed_fields,
    indicator_versions,
    list_indicators,
    load_times,
    results_tree,
    targets_of,
)
from catalogue.store import NoCatalogue, latest_load
from catalogue.tables import IndicatorVersion, Versioned

router = APIRouter(tags=["catalogue"], responses=ERROR_RESPONSES)


def _require_catalogue(session: SessionDep) -> None:
    if latest_load(session) is None:
        raise NoCatalogue("no catalogue is loaded: run `sera catalogue load` first")


def _result_out(node: ResultTreeNode) -> ResultOut:
    content = node.row.content
    return ResultOut(
        code=node.row.code,
        level=node.row.level,
        title=content["title"],
        description=content.get("description"),
        assumptions=content.get("assumptions", []),
        risks=content.get("risks", []),
        indicators=node.indicators,
        children=[_result_out(child) for child in node.children],
    )


@router.get("/results", response_model=Page[ResultOut])
def get_results(session: SessionDep) -> Page[ResultOut]:
    """The results chain (impact → outcomes → outputs → activities) as a tree, with each node's indicators."""
    _require_catalogue(session)
    roots = results_tree(session)
    return Page(items=[_result_out(root) for root in roots], total=len(roots))


def _summary(row: IndicatorVersion) -> IndicatorSummary:
    content = row.content
    return IndicatorSummary(
        code=row.code,
        result=row.result_code,
        name=content["name"],
        measure_type=row.measure_type,
        direction=row.direction,
        frequency=row.frequency,
        time_aggregation=row.time_aggregation,
        unit=content["unit"],
        form=row.measure_form,
        disaggregations=content.get("disaggregations", []),
        version=row.version,
    )


@router.get("/indicators", response_model=Page[IndicatorSummary])
def get_indicators(
    session: SessionDep,
    offset: Offset = 0,
    limit: Limit = 100,
    result: Annotated[str | None, Query(description="Only the indicators of this result node.")] = None,
    form: Annotated[str | None, Query(description="Only the indicators computed from this form.")] = None,
) -> Page[IndicatorSummary]:
    """The indicators of the catalogue, in logframe order."""
    _require_catalogue(session)
    rows, total = list_indicators(session, offset=offset, limit=limit, result=result, form=form)
    return Page(items=[_summary(row) for row in rows], total=total)


def _revision(row: Versioned) -> RevisionOut:
    return RevisionOut(date=row.revision_date, reason=row.revision_reason, rationale=row.revision_rationale)


def _targets(session: SessionDep, row: IndicatorVersion) -> list[TargetOut]:
    assert row.id is not None
    return [TargetOut(period=t.period_code, value=t.value, by=t.by) for t in targets_of(session, row.id)]


@router.get("/indicators/{code}", response_model=IndicatorDetail)
def get_indicator(code: str, session: SessionDep) -> IndicatorDetail:
    """One indicator: its reference sheet, baseline, targets, measure, and every earlier version."""
    versions = indicator_versions(session, code)
    current = next((row for row in versions if row.current and not row.retired), None)
    if current is None:
        raise NotFound(f"no indicator '{code}' in the current catalogue")
    times = load_times(session, {row.load_id for row in versions})
    history = []
    previous: dict[str, object] = {}
    for row in versions:
        history.append(
            HistoryEntry(
                version=row.version,
                revision=_revision(row),
                loaded_at=times.get(row.load_id),
                changed=changed_fields(previous, row.content),
                targets=_targets(session, row),
                retired=row.retired,
            )
        )
        previous = row.content
    content = current.content
    return IndicatorDetail(
        **_summary(current).model_dump(),
        definition=content["definition"],
        data_source=content["data_source"],
        collection_method=content["collection_method"],
        responsible=content["responsible"],
        baseline=content["baseline"],
        targets=_targets(session, current),
        references=content.get("references", []),
        measure=content["measure"],
        revision=_revision(current),
        history=history,
    )
