"""What each token sees, compared with the hand-computed figures: admin raw, viewer and partner suppressed."""

import time
from collections.abc import Callable, Iterable

from tests.acceptance.expected import CONTACTS, PEOPLE, THRESHOLD, Sheet, api_cells, figures
from tests.acceptance.programme import Api

INDICATORS = (PEOPLE, CONTACTS)


def raw_view(api: Api, sheets: list[Sheet]) -> list[str]:
    """Admin: every cell equals the hand figure, and no hand figure is missing."""
    problems: list[str] = []
    for code in INDICATORS:
        for by in ((), ("sex",), ("partner", "sex")):
            want = figures(sheets, code, by)
            got = api_cells(api.values(code, ",".join(by)), by)
            for cell, item in got.items():
                if item["value"] is not None and item["value"] != want.get(cell, 0):
                    problems.append(f"admin {code} by={by} {cell}: API {item['value']}, by hand {want.get(cell, 0)}")
            for cell, value in want.items():
                if cell not in got or got[cell]["value"] is None:
                    problems.append(f"admin {code} by={by} {cell}: missing, by hand {value}")
    return problems


def suppressed_view(who: str, api: Api, sheets: list[Sheet], *, where: dict[str, str] | None = None) -> list[str]:
    """Viewer or partner: a visible cell equals the hand figure; a hand figure of 1–4 is hidden; a hidden cell
    carries no number; a cell outside the partner's organisation is never served; and the viewer's unsplit
    figures that are shown equal the hand figures.

    Which cells of 5 or more a complementary suppression hides is the engine's choice: a split with one small cell
    in any period is hidden whole, and a small quarter hides the figures it could be worked back from
    (`family_masks`), so on this small scenario a viewer may see few figures; what it sees must be right."""
    problems: list[str] = []
    for code in INDICATORS:
        for by in (("sex",), ("partner", "sex")) if where is None else (("sex",),):
            dims = sorted({*by, *(where or {})})
            want = figures(sheets, code, by, where)
            got = api_cells(api.values(code, ",".join(by)), dims)
            shown = 0
            for cell, item in got.items():
                if where and any(dict(cell[1]).get(d) != v for d, v in where.items()):
                    problems.append(f"{who} {code} by={by} {cell}: a cell outside {where} is served")
                if item["suppressed"]:
                    if any(item[k] is not None for k in ("value", "numerator", "denominator")):
                        problems.append(f"{who} {code} {cell}: hidden yet carries a number {item}")
                    continue
                if item["value"] != want.get(cell, 0):
                    problems.append(f"{who} {code} by={by} {cell}: API {item['value']}, by hand {want.get(cell, 0)}")
                shown += item["value"] is not None and item["value"] >= THRESHOLD
            for cell, value in want.items():
                if 0 < value < THRESHOLD and cell in got and not got[cell]["suppressed"]:
                    problems.append(f"{who} {code} by={by} {cell}: {value} < {THRESHOLD} is shown")
                if value >= THRESHOLD and cell not in got:
                    problems.append(f"{who} {code} by={by} {cell}: missing, by hand {value}")
            if where is None and by == ("sex",):
                totals = figures(sheets, code, (), None)
                for cell, item in api_cells(api.values(code), []).items():
                    if not item["suppressed"] and item["value"] != totals.get(cell, 0):
                        problems.append(f"{who} {code} {cell}: API {item['value']}, by hand {totals.get(cell, 0)}")
    return problems


def itt_view(
    who: str, api: Api, sheets: list[Sheet], period: str, *, where: dict[str, str] | None = None, raw: bool
) -> list[str]:
    """The ITT's R1.3-1 and R1.3-2 lines (total and by sex): period and LOP values as computed by hand."""
    problems: list[str] = []
    itt = api.get("/itt", period=period)
    for code in INDICATORS:
        lines = [line for line in itt["items"] if line["indicator"] == code]
        if not lines:
            problems.append(f"{who} ITT {period}: no {code} line")
        for line in lines:
            split = line["split"]
            want = figures(sheets, code, split.keys(), where)
            key = tuple(sorted({**split, **(where or {})}.items()))
            for column, cell_period in (("period", period), ("lop", "LOP")):
                item, value = line[column], want.get((cell_period, key), 0)
                shown = None if item is None or item.get("suppressed") else item["value"]
                if raw and (shown or 0) != value:
                    problems.append(f"{who} ITT {period} {code} {split} {column}: API {shown}, by hand {value}")
                if not raw and shown is not None and shown != value:
                    problems.append(f"{who} ITT {period} {code} {split} {column}: API {shown}, by hand {value}")
                if not raw and 0 < value < 5 and shown is not None:
                    problems.append(f"{who} ITT {period} {code} {split} {column}: {value} < 5 is shown")
    return problems


def settle(check: Callable[[], Iterable[str]], timeout: float = 30) -> list[str]:
    """The check's problems once it passes, or after `timeout` (values may be recomputed in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        problems = list(check())
        if not problems or time.monotonic() > deadline:
            return problems
        time.sleep(2)
