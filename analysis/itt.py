"""The indicator tracking table (ITT) of a quarter: every indicator in results-chain order, with its baseline,
the quarter's target and actual, the life-of-programme target and actual, % achieved and status, and the split
by sex where the indicator has one (every count of people is split by sex in this programme)."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlmodel import Session

from analysis.values import CellValue, cell_values
from catalogue.model import LIFE_OF_PROGRAMME, RESULT_LEVEL_ORDER, Catalogue, Indicator, Text

SEX = "sex"


@dataclass(frozen=True)
class IttLine:
    """One line: the indicator's total (`split` empty) or one value of its sex split."""

    indicator: str
    result: str
    name: Text
    unit: Text
    split: dict[str, str]
    period: CellValue | None
    lop: CellValue | None


@dataclass(frozen=True)
class Itt:
    period: str
    lines: list[IttLine] = field(default_factory=list)


def results_order(catalogue: Catalogue) -> list[str]:
    """Result codes depth first from the impact, so indicators read like the logframe."""
    children: dict[str | None, list[str]] = {}
    for node in sorted(catalogue.results, key=lambda n: RESULT_LEVEL_ORDER[n.level]):
        children.setdefault(node.parent, []).append(node.code)
    order: list[str] = []

    def visit(code: str) -> None:
        order.append(code)
        for child in children.get(code, []):
            visit(child)

    for root in children.get(None, []):
        visit(root)
    return order


def tracking_table(
    session: Session,
    catalogue: Catalogue,
    period: str,
    *,
    where: dict[str, str] | None = None,
    include: Callable[[Indicator], bool] = lambda _indicator: True,
    post: Callable[[Indicator, list[CellValue]], list[CellValue]] = lambda _indicator, cells: cells,
) -> Itt:
    """The ITT of one quarter; `where` restricts to some dimension values (a partner), `post` may hide cells."""
    rank = {code: index for index, code in enumerate(results_order(catalogue))}
    indicators = sorted((i for i in catalogue.indicators if include(i)), key=lambda i: rank.get(i.result, len(rank)))
    itt = Itt(period)
    for indicator in indicators:
        splits: list[Sequence[str]] = [[]] + ([[SEX]] if SEX in indicator.disaggregations else [])
        for by in splits:
            extra = sorted(where) if where else []
            cells = post(
                indicator,
                cell_values(session, indicator, periods=[period, LIFE_OF_PROGRAMME], by=[*by, *extra], where=where),
            )
            keys = sorted({tuple(sorted((k, v) for k, v in c.dims.items() if k in by)) for c in cells}) or [()]
            for key in keys:
                split = dict(key)
                mine = [c for c in cells if all(c.dims.get(k) == v for k, v in split.items())]
                itt.lines.append(
                    IttLine(
                        indicator=indicator.code,
                        result=indicator.result,
                        name=indicator.name,
                        unit=indicator.unit,
                        split=split,
                        period=next((c for c in mine if c.period == period), None),
                        lop=next((c for c in mine if c.period == LIFE_OF_PROGRAMME), None),
                    )
                )
    return itt
