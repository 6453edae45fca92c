"""Read-side views of the stored catalogue for the API and reports: the results tree, indicators, history."""

from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from catalogue.store import current_rows
from catalogue.tables import (
    CatalogueLoad,
    IndicatorTarget,
    IndicatorVersion,
    ResultVersion,
)


@dataclass
class ResultTreeNode:
    row: ResultVersion
    indicators: list[str] = field(default_factory=list)
    children: list["ResultTreeNode"] = field(default_factory=list)


def results_tree(session: Session) -> list[ResultTreeNode]:
    """The results chain as a forest (normally one impact), children in catalogue order."""
    nodes = {row.code: ResultTreeNode(row) for row in current_rows(session, ResultVersion)}
    for indicator in current_rows(session, IndicatorVersion):
        if indicator.result_code in nodes:
            nodes[indicator.result_code].indicators.append(indicator.code)
    roots: list[ResultTreeNode] = []
    for node in nodes.values():
        parent = nodes.get(node.row.parent_code or "")
        (parent.children if parent else roots).append(node)
    return roots


def list_indicators(
    session: Session, *, offset: int, limit: int, result: str | None = None, form: str | None = None
) -> tuple[list[IndicatorVersion], int]:
    """Current indicators in catalogue order, optionally those of one result node or fed by one form."""
    rows = current_rows(session, IndicatorVersion)
    if result is not None:
        rows = [row for row in rows if row.result_code == result]
    if form is not None:
        rows = [row for row in rows if row.measure_form == form]
    return rows[offset : offset + limit], len(rows)


def indicator_versions(session: Session, code: str) -> list[IndicatorVersion]:
    """Every version of an indicator, oldest first."""
    query = select(IndicatorVersion).where(IndicatorVersion.code == code).order_by(col(IndicatorVersion.version))
    return list(session.exec(query))


def targets_of(session: Session, version_id: int) -> list[IndicatorTarget]:
    query = select(IndicatorTarget).where(IndicatorTarget.indicator_version_id == version_id)
    return sorted(session.exec(query), key=lambda t: (t.period_code == "LOP", t.period_code, t.split))


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Top-level fields whose value differs between two versions' contents, in the catalogue's order."""
    return [key for key in dict.fromkeys([*after, *before]) if before.get(key) != after.get(key)]


def load_times(session: Session, load_ids: set[int]) -> dict[int, Any]:
    query = select(CatalogueLoad).where(col(CatalogueLoad.id).in_(load_ids))
    return {load.id: load.loaded_at for load in session.exec(query)}
