"""Small counts of people stay hidden from partner and viewer tokens, even by subtraction.

A viewer can fetch the total (`by=`) and a split (`by=sex`) and subtract; or LOP and the quarters. Secondary
suppression (`analysis.values`) hides a second cell wherever one would be readable: first on a small world
written by hand, then on the demo data, for every indicator counting people and every grouping a viewer can ask.
"""

import csv
import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlmodel import Session, select

from analysis.report.content import PROGRAMME
from analysis.report.issues import draft_quarterly
from analysis.report.workbook import HIDDEN
from analysis.tables import IndicatorValue
from analysis.values import counts_people, partner_owned, served_grouping
from api.app import create_app
from catalogue.model import LIFE_OF_PROGRAMME, TimeAggregation
from catalogue.store import load_catalogue, split_key, stored_catalogue
from catalogue.validation import read_catalogue
from sera.settings import DEFAULT_CATALOGUE, Settings
from sera.tokens import create_token
from tests.api.conftest import PARTNER
from tests.audit.world import world_cells

LOP = LIFE_OF_PROGRAMME
THRESHOLD = 5
Cells = dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, Any]]
Api = tuple[TestClient, dict[str, dict[str, str]]]


def fetch(client: TestClient, headers: dict[str, str], code: str, **params: str) -> Cells:
    """Every cell of one request, all pages, keyed by (period, sorted split)."""
    cells: Cells = {}
    offset = 0
    while True:
        response = client.get(
            f"/api/v1/indicators/{code}/values",
            params={**params, "offset": str(offset), "limit": "1000"},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        for item in body["items"]:
            cells[(item["period"], tuple(sorted(item["dims"].items())))] = item
        offset += len(body["items"])
        if offset >= body["total"]:
            return cells


def readable(cells: Cells, *, over_time: bool) -> list[str]:
    """Hidden cells a reader of `cells` can recompute with one subtraction, or hidden parents that are the sum of
    visible children; empty when suppression holds. Checks every pair of groupings present (parent ⊊ child) in
    every period, and quarters → LOP when they add up. Independent of the implementation on purpose."""
    by_grouping: dict[tuple[str, ...], Cells] = {}
    for key, cell in cells.items():
        by_grouping.setdefault(tuple(d for d, _ in key[1]), {})[key] = cell
    problems = []
    for grouping, children in by_grouping.items():
        for parent_grouping, parents in by_grouping.items():
            if not set(parent_grouping) < set(grouping):
                continue
            partitions: dict[tuple[str, tuple[tuple[str, str], ...]], list[dict[str, Any]]] = {}
            for (period, split), child in children.items():
                on_parent = tuple(pair for pair in split if pair[0] in parent_grouping)
                partitions.setdefault((period, on_parent), []).append(child)
            for (period, split), parent in parents.items():
                part = partitions.get((period, split), [])
                shut = [c for c in part if c["suppressed"]]
                if not parent["suppressed"] and len(shut) == 1:
                    problems.append(f"{shut[0]['period']} {shut[0]['dims']} = {period} {dict(split)} minus the rest")
                if parent["suppressed"] and part and not shut:
                    problems.append(f"{period} {dict(split)} = the sum of its {grouping} cells")
        if over_time:
            series: dict[tuple[tuple[str, str], ...], list[dict[str, Any]]] = {}
            for (period, split), child in children.items():
                if period != LOP:
                    series.setdefault(split, []).append(child)
            for (period, split), parent in children.items():
                if period != LOP:
                    continue
                quarters = series.get(split, [])
                shut = [c for c in quarters if c["suppressed"]]
                if not parent["suppressed"] and len(shut) == 1:
                    problems.append(f"{shut[0]['period']} {dict(split)} = LOP minus the other quarters")
                if parent["suppressed"] and quarters and not shut:
                    problems.append(f"LOP {dict(split)} = the sum of its quarters")
    return problems


def small_and_shown(cells: Cells) -> list[dict[str, Any]]:
    def counts(cell: dict[str, Any]) -> tuple[str, ...]:  # a mean or a gain's value is not a count
        return ("numerator", "denominator") if cell["denominator"] is not None else ("value",)

    return [c for c in cells.values() if any(c[k] is not None and 0 < c[k] < THRESHOLD for k in counts(c))]


# --- a small world written by hand ---------------------------------------------------------------------------

WOMEN_Q1, MEN_Q2 = 3, 20
"""R1.3-1 (unique people): 3 women first reached in 2027Q1, 20 men in 2027Q2, all with partner SM-01."""


def _cell(period: str, value: float, **dims: str) -> IndicatorValue:
    return IndicatorValue(
        indicator="R1.3-1",
        period=period,
        grouping=",".join(sorted(dims)),
        dims_key=split_key(dims),
        dims=dims,
        value=value,
        n=int(value),
    )


@pytest.fixture
def small(settings: Settings, session: Session) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    load_catalogue(session, read_catalogue(DEFAULT_CATALOGUE), source="test")
    total = WOMEN_Q1 + MEN_Q2
    for extra in ({}, {"partner": PARTNER}):
        session.add_all(
            [
                _cell("2027Q1", WOMEN_Q1, **extra),
                _cell("2027Q2", MEN_Q2, **extra),
                _cell(LOP, total, **extra),
                _cell("2027Q1", WOMEN_Q1, sex="female", **extra),
                _cell(LOP, WOMEN_Q1, sex="female", **extra),
                _cell("2027Q2", MEN_Q2, sex="male", **extra),
                _cell(LOP, MEN_Q2, sex="male", **extra),
            ]
        )
    headers = {}
    for role in ("staff", "partner", "viewer"):
        _row, token = create_token(session, role, organisation=PARTNER if role == "partner" else None)
        headers[role] = {"Authorization": f"Bearer {token}"}
    session.commit()
    with TestClient(create_app(settings)) as client:
        yield client, headers


def test_the_total_minus_a_split_gives_nothing_away(small: Api) -> None:
    client, headers = small
    viewer = headers["viewer"]
    total = fetch(client, viewer, "R1.3-1", lop="true")
    split = fetch(client, viewer, "R1.3-1", by="sex")
    assert total[(LOP, ())]["value"] == WOMEN_Q1 + MEN_Q2
    for sex in ("female", "male"):
        cell = split[(LOP, (("sex", sex),))]
        assert cell["suppressed"] and cell["value"] is None and cell["n"] == 0
    staff = fetch(client, headers["staff"], "R1.3-1", by="sex")
    assert staff[(LOP, (("sex", "male"),))]["value"] == MEN_Q2


def test_lop_minus_a_quarter_gives_nothing_away(small: Api) -> None:
    client, headers = small
    total = fetch(client, headers["viewer"], "R1.3-1", **{"from": "2027Q1", "to": "2027Q4"})
    assert total[(LOP, ())]["value"] == WOMEN_Q1 + MEN_Q2
    assert total[("2027Q1", ())]["suppressed"] and total[("2027Q2", ())]["suppressed"]
    # Asking for one quarter alone hides it too: the mask does not depend on what the request asked.
    alone = fetch(client, headers["viewer"], "R1.3-1", **{"from": "2027Q2", "to": "2027Q2", "lop": "false"})
    assert list(alone) == [("2027Q2", ())] and alone[("2027Q2", ())]["suppressed"]


def test_csv_itt_and_partner_views_hide_the_same_cells(small: Api) -> None:
    client, headers = small
    response = client.get(
        "/api/v1/indicators/R1.3-1/values", params={"by": "sex", "format": "csv"}, headers=headers["viewer"]
    )
    rows = list(csv.DictReader(io.StringIO(response.text)))
    lop = {row["sex"]: row for row in rows if row["period"] == LOP}
    assert {sex: (row["value"], row["suppressed"]) for sex, row in lop.items()} == {
        "female": ("", "True"),
        "male": ("", "True"),
    }
    itt = client.get("/api/v1/itt", params={"period": "2027Q2"}, headers=headers["viewer"]).json()
    lines = {tuple(line["split"].items()): line for line in itt["items"] if line["indicator"] == "R1.3-1"}
    assert lines[()]["lop"]["value"] == WOMEN_Q1 + MEN_Q2
    assert lines[()]["period"]["suppressed"]  # 2027Q2 = LOP − 2027Q1
    assert all(lines[(("sex", s),)]["lop"]["suppressed"] for s in ("female", "male"))
    mine = fetch(client, headers["partner"], "R1.3-1", by="sex")
    assert all(cell["suppressed"] for (period, _), cell in mine.items() if period == LOP)
    partner_itt = client.get("/api/v1/itt", params={"period": "2027Q2"}, headers=headers["partner"]).json()
    ours = [line for line in partner_itt["items"] if line["indicator"] == "R1.3-1" and line["split"]]
    assert ours and all(line["lop"]["suppressed"] for line in ours)


# --- the demo data -------------------------------------------------------------------------------------------


def _people_indicators(session: Session) -> list[tuple[Any, list[str]]]:
    """Every indicator counting people, with the groupings stored for it that partner and viewer tokens read."""
    out = []
    for indicator in stored_catalogue(session).indicators:
        if counts_people(indicator):
            query = select(IndicatorValue.grouping).where(IndicatorValue.indicator == indicator.code).distinct()
            out.append((indicator, sorted(g for g in session.exec(query) if served_grouping(g.split(",")))))
    return out


def test_no_hidden_demo_cell_is_one_subtraction_away_for_a_viewer(api: Api, session: Session) -> None:
    client, headers = api
    indicators = _people_indicators(session)
    assert {i.code for i, _ in indicators} >= {"OS-1", "R1.3-1", "R1.3-5", "R2.2-3"}
    hidden = 0
    for indicator, groupings in indicators:
        additive = indicator.time_aggregation in (TimeAggregation.unique_people, TimeAggregation.sum)
        cells: Cells = {}
        for grouping in groupings:
            cells |= fetch(client, headers["viewer"], indicator.code, by=grouping)
        assert not small_and_shown(cells), indicator.code
        assert not readable(cells, over_time=additive), indicator.code
        hidden += sum(c["suppressed"] for c in cells.values())
    assert hidden, "the demo data has cells to hide"


def test_no_hidden_demo_cell_is_one_subtraction_away_for_a_partner(api: Api, session: Session) -> None:
    client, headers = api
    catalogue = stored_catalogue(session)
    for indicator, groupings in _people_indicators(session):
        if "partner" not in indicator.disaggregations or not partner_owned(indicator, catalogue.forms):
            continue  # the feedback register's partner split is refused to partners (issue 9 item 13)
        additive = indicator.time_aggregation in (TimeAggregation.unique_people, TimeAggregation.sum)
        cells: Cells = {}
        for grouping in groupings:
            if "partner" in grouping.split(","):
                cells |= fetch(client, headers["partner"], indicator.code, by=grouping)
        assert cells and all(dict(split)["partner"] == PARTNER for _, split in cells)
        assert not small_and_shown(cells), indicator.code
        assert not readable(cells, over_time=additive), indicator.code


def test_a_viewer_cannot_solve_for_any_hidden_cell_from_the_totals_and_one_way_splits(
    api: Api, session: Session
) -> None:
    """Not one subtraction but any number: with the total and every one-dimension split, in every quarter and LOP,
    the hidden cells of each indicator counting people are not determined by the relations between the cells
    (exact linear algebra; pairs and the full cross-classification are left out, see `analysis.values`)."""
    client, headers = api
    for indicator, groupings in _people_indicators(session):
        additive = indicator.time_aggregation in (TimeAggregation.unique_people, TimeAggregation.sum)
        cells: Cells = {}
        for grouping in (g for g in groupings if "," not in g):
            cells |= fetch(client, headers["viewer"], indicator.code, by=grouping)
        unknown = sorted(key for key, cell in cells.items() if cell["suppressed"])
        if not unknown:
            continue
        column = {key: i for i, key in enumerate(unknown)}
        dims = sorted({d for _p, split in cells for d, _v in split})
        totals = [key for key in cells if not key[1]]
        relations = [
            [(period, ()), *(k for k in cells if k[0] == period and [d for d, _ in k[1]] == [dim])]
            for period, _ in totals
            for dim in dims
        ]
        if additive:
            splits = {split for _p, split in cells}
            relations += [[(LOP, split), *(k for k in cells if k[1] == split and k[0] != LOP)] for split in splits]
        rows = []
        for parent, *children in relations:
            row = np.zeros(len(unknown))
            for key, sign in [(parent, 1.0), *((child, -1.0) for child in children)]:
                if key in column:
                    row[column[key]] += sign
            rows.append(row)
        matrix = np.array(rows)
        rank = np.linalg.matrix_rank(matrix)
        solvable = [
            key
            for key, i in column.items()
            if np.linalg.matrix_rank(np.vstack([matrix, np.eye(len(unknown))[i]])) == rank
        ]
        assert not solvable, f"{indicator.code}: hidden cells a viewer can compute: {solvable[:3]}"


def test_the_itt_hides_what_the_values_hide(api: Api) -> None:
    client, headers = api
    itt = client.get("/api/v1/itt", params={"period": "2027Q2"}, headers=headers["viewer"]).json()
    checked = 0
    fetched: dict[tuple[str, str], Cells] = {}
    for line in itt["items"]:
        by = ",".join(line["split"])
        if (line["indicator"], by) not in fetched:
            fetched[(line["indicator"], by)] = fetch(
                client, headers["viewer"], line["indicator"], by=by, **{"from": "2027Q2", "to": "2027Q2"}
            )
        cells = fetched[(line["indicator"], by)]
        for shown in (line["period"], line["lop"]):
            if shown is None:
                continue
            same = cells[(shown["period"], tuple(sorted(shown["dims"].items())))]
            assert (shown["suppressed"], shown["value"]) == (same["suppressed"], same["value"]), line
            checked += shown["suppressed"]
    assert checked, "some ITT cells of the demo data are hidden"


# --- complaints, contacts, ratios; partners and the feedback register; labels (issue 9 items 13 and 15) ---------


@pytest.fixture
def world(settings: Settings, session: Session) -> Iterator[Api]:
    load_catalogue(session, read_catalogue(DEFAULT_CATALOGUE), source="test")
    session.add_all(world_cells())
    headers = {}
    for role in ("staff", "partner", "viewer"):
        _row, token = create_token(session, role, organisation=PARTNER if role == "partner" else None)
        headers[role] = {"Authorization": f"Bearer {token}"}
    session.commit()
    with TestClient(create_app(settings)) as client:
        yield client, headers


def test_small_counts_of_complaints_and_ratio_sides_are_hidden_from_viewers(world: Api) -> None:
    client, headers = world
    staff = fetch(client, headers["staff"], "RT.1-1", by="feedback_category")
    sensitive = ("2026Q4", (("feedback_category", "sensitive"),))
    assert staff[sensitive]["value"] == 1  # one sensitive complaint, staff read it
    for code, by in (("RT.1-1", "feedback_category"), ("RT.1-1", "sex"), ("R2.2-3", "region"), ("R1.3-4", "sex")):
        shown = fetch(client, headers["viewer"], code, by=by)
        assert shown and not small_and_shown(shown), (code, by)
    assert fetch(client, headers["viewer"], "RT.1-1", by="feedback_category")[sensitive]["suppressed"]
    # Two dimensions besides partner are refused to restricted roles (not audited, see `analysis.values`).
    refused = client.get(
        "/api/v1/indicators/RT.1-1/values", params={"by": "feedback_category,sex"}, headers=headers["viewer"]
    )
    assert refused.status_code == 422 and "at most 1 dimension" in refused.json()["detail"]
    allowed = client.get(
        "/api/v1/indicators/RT.1-1/values", params={"by": "feedback_category,sex"}, headers=headers["staff"]
    )
    assert allowed.status_code == 200


def test_a_partner_never_sees_complaints_about_itself(world: Api, session: Session) -> None:
    client, headers = world
    refused = client.get("/api/v1/indicators/RT.1-1/values", headers=headers["partner"])
    assert refused.status_code == 403 and "feedback" in refused.json()["detail"]
    assert fetch(client, headers["partner"], "R1.3-4", by="sex")  # its own attendance figures stay readable
    itt = client.get("/api/v1/itt", params={"period": "2026Q4"}, headers=headers["partner"]).json()["items"]
    assert itt and not [line for line in itt if line["indicator"] in ("RT.1-1", "RT.1-2")]
    copy = draft_quarterly(session, stored_catalogue(session), "2026Q4", threshold=THRESHOLD, findings=False)
    assert [row for row in copy.itt if row.indicator == "RT.1-1" and row.scope == PROGRAMME]
    assert not [row for row in copy.for_partner(PARTNER).itt if row.indicator in ("RT.1-1", "RT.1-2")]


def test_hidden_cells_read_hidden_never_with_a_bound(world: Api) -> None:
    client, headers = world
    staff = fetch(client, headers["staff"], "R1.3-4", by="partner,sex")
    mine = fetch(client, headers["partner"], "R1.3-4", by="sex")
    big_and_hidden = [key for key, cell in mine.items() if cell["suppressed"] and staff[key]["value"] >= THRESHOLD]
    assert big_and_hidden, "some complement is larger than the threshold"
    for key in big_and_hidden:
        cell = mine[key]
        assert (cell["value"], cell["numerator"], cell["denominator"], cell["status"]) == (
            None,
            None,
            None,
            "suppressed",
        )
    response = client.get("/api/v1/reports/quarterly/2027Q1.xlsx", params={"draft": "true"}, headers=headers["partner"])
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    texts = [str(v) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for v in row if v is not None]
    assert HIDDEN in texts
    assert not [t for t in texts if t.startswith("< ")]
