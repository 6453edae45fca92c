"""Everything one token can obtain about the indicators: the values API for every grouping the store keeps, in
every quarter and LOP; the ITT of every quarter; two consecutive quarterly reports (the whole report is what
donors, the viewer role, read; a partner gets its copy), as the content builder makes them."""

from collections.abc import Iterable
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from analysis.report.content import PROGRAMME, Figure, ReportContent
from analysis.report.issues import draft_quarterly
from analysis.tables import IndicatorValue
from catalogue.model import Catalogue, Indicator, TimeAggregation
from catalogue.periods import quarters_between
from tests.audit.lp import CELL, TO_DATE, Audit, sides, split_of

PARTNER = "partner"


def about_people(indicator: Indicator) -> bool:
    """The indicators the audit covers: their cells count people or records about a person (split by sex or age
    band, or counting distinct people), whatever `analysis.values` decides to suppress."""
    measure = indicator.measure
    people = [t for t in (measure, measure.numerator, measure.denominator) if t is not None]
    return (
        bool({"sex", "age_band"} & set(indicator.disaggregations))
        or indicator.time_aggregation is TimeAggregation.unique_people
        or any(t.aggregation == "distinct_people" for t in people)
    )


def _pages(client: TestClient, headers: dict[str, str], code: str, by: str) -> list[dict[str, Any]] | None:
    """Every cell of one request, all pages; None when the token may not ask for it."""
    items: list[dict[str, Any]] = []
    while True:
        response = client.get(
            f"/api/v1/indicators/{code}/values",
            params={"by": by, "offset": str(len(items)), "limit": "1000"},
            headers=headers,
        )
        if response.status_code in (403, 422):
            return None
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        if len(items) >= body["total"]:
            return items


def _figure(figure: Figure | dict[str, Any] | None) -> dict[str, Any] | None:
    if figure is None:
        return None
    return figure.model_dump() if isinstance(figure, Figure) else figure


def collect(
    client: TestClient,
    headers: dict[str, str],
    session: Session,
    catalogue: Catalogue,
    threshold: int,
    *,
    partner: str | None,
    reports: Iterable[str],
    only: Iterable[str] | None = None,
) -> Audit:
    """The audit of one token (`partner`: its organisation, None for a viewer); `only`: these indicators."""
    chosen = None if only is None else set(only)
    indicators = {i.code: i for i in catalogue.indicators if about_people(i) and (chosen is None or i.code in chosen)}
    audit = Audit(threshold=threshold, indicators=indicators)
    seen_groupings: set[tuple[str, str]] = set()

    def see(code: str, kind: str, period: str, dims: dict[str, str], figure: dict[str, Any] | None) -> None:
        if figure is None:
            return
        audit.see(code, kind, period, dims, figure)
        if kind == CELL:
            seen_groupings.add((code, ",".join(sorted(dims))))

    for code in indicators:
        stored = session.exec(
            select(IndicatorValue.grouping).where(col(IndicatorValue.indicator) == code).distinct()
        ).all()
        for grouping in sorted(stored):
            for item in _pages(client, headers, code, grouping) or []:
                see(code, CELL, item["period"], item["dims"], item)
    programme = catalogue.programme
    for quarter in quarters_between(programme.first_period, programme.last_period):
        response = client.get("/api/v1/itt", params={"period": quarter}, headers=headers)
        assert response.status_code == 200, response.text
        for line in response.json()["items"]:
            for cell in (line["period"], line["lop"]):
                if cell is not None and line["indicator"] in indicators:
                    see(line["indicator"], CELL, cell["period"], cell["dims"], cell)
    for period in reports:
        content = draft_quarterly(session, catalogue, period, threshold=threshold, findings=False)
        _see_report(content.for_partner(partner) if partner else content, see, indicators)
    _truth(audit, session, seen_groupings)
    return audit


def _see_report(content: ReportContent, see: Any, indicators: Iterable[str]) -> None:
    period = content.period
    audited = set(indicators)
    for row in (r for r in content.itt if r.indicator in audited):
        dims = dict(row.split) | ({} if row.scope == PROGRAMME else {PARTNER: row.scope})
        see(row.indicator, CELL, period, dims, _figure(row.period))
        see(row.indicator, TO_DATE, period, dims, _figure(row.to_date))
    for split in (r for r in content.disaggregations if r.indicator in audited):
        dims = {split.dimension: split.code}
        see(split.indicator, CELL, period, dims, _figure(split.period))
        see(split.indicator, TO_DATE, period, dims, _figure(split.to_date))
    for point in (p for p in content.series if p.indicator in audited):
        see(point.indicator, CELL, point.period, {}, _figure(point.actual))


def _truth(audit: Audit, session: Session, groupings: set[tuple[str, str]]) -> None:
    """The stored values of every grouping the token could read (all its cells, whatever the partner), then the
    true to-date figures from them."""
    for code, grouping in sorted(groupings):
        indicator = audit.indicators[code]
        rows = session.exec(
            select(IndicatorValue).where(IndicatorValue.indicator == code, IndicatorValue.grouping == grouping)
        )
        for row in rows:
            for side in sides(indicator):
                value = getattr(row, side)
                audit.truth[(code, CELL, row.period, split_of(row.dims), side)] = float(value or 0.0)
    for var in sorted(audit.hidden | audit.shown.keys()):
        if var[1] == TO_DATE:
            sources = audit.to_date_sources(var)
            if sources:
                audit.truth[var] = sum(audit.truth[s] for s in sources)
