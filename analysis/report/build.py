"""Reading a quarterly report's content from the indicator values of today.

Every figure goes through `hide` (`analysis.values.Suppression`: small counts of people and the cells that would
give them away) before it is kept: a report leaves the programme (donors, partners), so it never holds a figure
that the viewer role could not see. To-date figures are sums the report makes itself: one is shown only when
every stored cell it adds up may be shown (`Suppression.derived`), so neither to date minus the quarter nor two
consecutive reports' to-date figures give a hidden quarter away. A partner's sheet leaves out the indicators
whose form does not belong to partners (complaints about a partner are not that partner's to read).
"""

import datetime as dt
from collections.abc import Sequence

from sqlmodel import Session

from analysis.engine import Engine
from analysis.itt import SEX, tracking_table
from analysis.quality import Finding
from analysis.report.content import (
    PROGRAMME,
    DisaggregationRow,
    Figure,
    IttRow,
    Partner,
    ReportContent,
    SeriesPoint,
)
from analysis.report.todate import to_date_sourced
from analysis.targets import target_for
from analysis.values import PARTNER_DIMENSION, CellValue, Suppression, cell_values, partner_owned
from catalogue.model import LIFE_OF_PROGRAMME, UNKNOWN, Catalogue, Indicator, MeasureType, Text
from catalogue.periods import quarters_between
from catalogue.reference import dimension_values

Hide = Suppression
"""Suppression for the report's readers: the stored cells as they may be shown (`hide(indicator, cells)`), and
the figures the report computes from them (`hide.derived`)."""

UNKNOWN_LABEL = Text(fr="Inconnu", ar="غير معروف")
SPLIT_DIMENSIONS_LEFT_OUT = (SEX, PARTNER_DIMENSION)
"""The tracking table splits by sex and the partner sheets by partner; `Désagrégations` has the others."""


def figure(cell: CellValue | None) -> Figure | None:
    if cell is None:
        return None
    return Figure(value=cell.value, numerator=cell.numerator, denominator=cell.denominator, suppressed=cell.suppressed)


class Labels:
    """French and Arabic labels of dimension values (`unknown` included)."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.dimensions = {d.code: d for d in catalogue.dimensions}
        self.values = {d.code: {v.code: v.label for v in dimension_values(d)} for d in catalogue.dimensions}

    def value(self, dimension: str, code: str) -> Text:
        found = self.values.get(dimension, {}).get(code)
        if found is not None:
            return found
        return UNKNOWN_LABEL if code == UNKNOWN else Text(fr=code, ar=code)

    def split(self, split: dict[str, str]) -> Text | None:
        if not split:
            return None
        labels = [self.value(dim, code) for dim, code in sorted(split.items())]
        return Text(fr=" · ".join(t.fr for t in labels), ar=" · ".join(t.ar for t in labels))


def build_content(
    session: Session,
    catalogue: Catalogue,
    period: str,
    *,
    hide: Hide,
    threshold: int,
    findings: Sequence[Finding] = (),
    now: dt.datetime,
    values_computed_at: dt.datetime | None = None,
    catalogue_loaded_at: dt.datetime | None = None,
) -> ReportContent:
    """The content of the quarterly report of `period` (a draft: no issue number yet)."""
    engine = Engine.of(catalogue)
    labels = Labels(catalogue)
    partner_dimension = labels.dimensions.get(PARTNER_DIMENSION)
    partners = [
        Partner(code=v.code, label=v.label)
        for v in (dimension_values(partner_dimension) if partner_dimension else [])
        if v.code != UNKNOWN
    ]
    reader = _Reader(session, catalogue, engine, labels, period, hide)
    itt = reader.itt_rows(PROGRAMME, None)
    for partner in partners:
        itt.extend(reader.itt_rows(partner.code, {PARTNER_DIMENSION: partner.code}))
    return ReportContent(
        period=period,
        programme_code=catalogue.programme.code,
        programme_title=catalogue.programme.title,
        donors=list(catalogue.programme.donors),
        generated_at=now,
        values_computed_at=values_computed_at,
        catalogue_loaded_at=catalogue_loaded_at,
        threshold=threshold,
        partners=partners,
        itt=itt,
        disaggregations=reader.disaggregations(),
        series=reader.series(),
        findings=list(findings),
    )


class _Reader:
    def __init__(
        self, session: Session, catalogue: Catalogue, engine: Engine, labels: Labels, period: str, hide: Hide
    ) -> None:
        self.session = session
        self.catalogue = catalogue
        self.engine = engine
        self.labels = labels
        self.period = period
        self.hide = hide
        self.first = catalogue.programme.first_period
        self.levels = {node.code: node.level.value for node in catalogue.results}

    def to_date(self, indicator: Indicator, by: list[str], where: dict[str, str] | None) -> dict[tuple, CellValue]:
        plan = self.engine.indicators[indicator.code]
        sourced = to_date_sourced(self.session, plan, self.first, self.period, by=by, where=where)
        cells = [self.hide.derived(indicator, cell, sources) for cell, sources in sourced]
        return {tuple(sorted((k, v) for k, v in c.dims.items() if k in by)): c for c in cells}

    def itt_rows(self, scope: str, where: dict[str, str] | None) -> list[IttRow]:
        forms = self.catalogue.forms
        include = (
            (lambda i: PARTNER_DIMENSION in i.disaggregations and partner_owned(i, forms))
            if where
            else (lambda _i: True)
        )
        itt = tracking_table(self.session, self.catalogue, self.period, where=where, include=include, post=self.hide)
        indicators = {i.code: i for i in self.catalogue.indicators}
        to_date: dict[tuple[str, bool], dict[tuple, CellValue]] = {}
        rows = []
        for line in itt.lines:
            indicator = indicators[line.indicator]
            split_by = sorted(line.split)
            cache_key = (indicator.code, bool(split_by))
            if cache_key not in to_date:
                to_date[cache_key] = self.to_date(indicator, split_by, where)
            so_far = to_date[cache_key].get(tuple(sorted(line.split.items())))
            quarter = line.period
            rows.append(
                IttRow(
                    scope=scope,
                    indicator=indicator.code,
                    result=indicator.result,
                    level=self.levels.get(indicator.result, ""),
                    name=indicator.name,
                    unit=indicator.unit,
                    percentage=indicator.measure_type is MeasureType.percentage,
                    time_aggregation=indicator.time_aggregation.value,
                    split=line.split,
                    split_label=self.labels.split(line.split),
                    baseline=quarter.baseline if quarter else (so_far.baseline if so_far else None),
                    period_target=target_for(indicator, self.period, line.split),
                    period=figure(quarter),
                    period_achievement=quarter.achievement if quarter else None,
                    status=quarter.status if quarter else "no_data",
                    to_date=figure(so_far),
                    lop_target=target_for(indicator, LIFE_OF_PROGRAMME, line.split),
                    lop_achievement=so_far.achievement if so_far else None,
                )
            )
        return rows

    def disaggregations(self) -> list[DisaggregationRow]:
        rows = []
        for indicator in self.catalogue.indicators:
            for dimension in indicator.disaggregations:
                if dimension in SPLIT_DIMENSIONS_LEFT_OUT:
                    continue
                cells = self.hide(
                    indicator, cell_values(self.session, indicator, periods=[self.period], by=[dimension])
                )
                quarter = {c.dims[dimension]: c for c in cells}
                so_far = {key[0][1]: cell for key, cell in self.to_date(indicator, [dimension], None).items() if key}
                rows.extend(
                    DisaggregationRow(
                        indicator=indicator.code,
                        dimension=dimension,
                        dimension_name=self.labels.dimensions[dimension].name,
                        code=code,
                        label=self.labels.value(dimension, code),
                        period=figure(quarter.get(code)),
                        to_date=figure(so_far.get(code)),
                    )
                    for code in sorted(set(quarter) | set(so_far))
                )
        return rows

    def series(self) -> list[SeriesPoint]:
        quarters = quarters_between(self.first, self.period)
        points = []
        for indicator in self.catalogue.indicators:
            cells = self.hide(indicator, cell_values(self.session, indicator, periods=quarters))
            by_quarter = {c.period: c for c in cells}
            points.extend(
                SeriesPoint(
                    indicator=indicator.code,
                    period=quarter,
                    actual=figure(by_quarter.get(quarter)),
                    target=target_for(indicator, quarter, {}),
                )
                for quarter in quarters
            )
        return points
