"""Indicator values over HTTP: splits, targets and status, CSV, partner isolation and small-cell suppression."""

import csv
import io

import pytest
from fastapi.testclient import TestClient

from analysis.targets import assess
from catalogue.validation import read_catalogue
from sera.settings import DEFAULT_CATALOGUE
from tests.api.conftest import PARTNER


def values(client: TestClient, headers: dict[str, str], code: str, **params: str) -> list[dict[str, object]]:
    response = client.get(f"/api/v1/indicators/{code}/values", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def test_values_by_sex_with_targets_and_status(api: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    client, headers = api
    cells = values(client, headers["admin"], "R1.3-1", by="sex", **{"from": "2027Q1", "to": "2027Q4"})
    assert {cell["period"] for cell in cells} <= {"2027Q1", "2027Q2", "2027Q3", "2027Q4", "LOP"}
    assert {tuple(cell["dims"]) for cell in cells} == {("sex",)}
    lop = [cell for cell in cells if cell["period"] == "LOP"]
    assert {cell["dims"]["sex"] for cell in lop} >= {"female", "male"}
    total = values(client, headers["admin"], "R1.3-1", lop="true")
    [lop_total] = [cell for cell in total if cell["period"] == "LOP"]
    assert lop_total["dims"] == {}
    catalogue = read_catalogue(DEFAULT_CATALOGUE)
    indicator = next(i for i in catalogue.indicators if i.code == "R1.3-1")
    expected = next(t.value for t in indicator.targets if t.period == "LOP" and not t.by)
    assert lop_total["target"] == expected
    assert lop_total["status"] == assess(indicator, "LOP", lop_total["value"]).status.value  # type: ignore[arg-type]
    assert lop_total["achievement"] == pytest.approx(100 * lop_total["value"] / expected)  # type: ignore[operator]
    assert sum(cell["value"] for cell in lop) >= lop_total["value"]  # type: ignore[misc]


def test_csv_has_one_column_per_split(api: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    client, headers = api
    response = client.get(
        "/api/v1/indicators/R1.2-1/values", params={"by": "region", "format": "csv"}, headers=headers["staff"]
    )
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows and list(rows[0])[:2] == ["period", "region"]
    assert all(row["numerator"] != "" for row in rows if row["value"])


def test_a_partner_sees_only_its_own_cells(api: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    client, headers = api
    cells = values(client, headers["partner"], "R1.3-2", by="sex")
    assert cells and all(cell["dims"]["partner"] == PARTNER for cell in cells)
    other = client.get("/api/v1/indicators/R1.3-2/values", params={"partner": "ORI-02"}, headers=headers["partner"])
    assert other.status_code == 403
    unsplit = client.get("/api/v1/indicators/OS-1/values", headers=headers["partner"])
    assert unsplit.status_code == 403
    assert unsplit.json()["error"] == "forbidden"


def test_small_counts_of_people_are_suppressed_for_viewers_not_for_staff(
    api: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, headers = api
    params = {"by": "age_band"}  # restricted roles split by one dimension besides partner
    staff = values(client, headers["staff"], "R1.3-1", **params)
    viewer = values(client, headers["viewer"], "R1.3-1", **params)
    assert [(c["period"], c["dims"]) for c in staff] == [(c["period"], c["dims"]) for c in viewer]
    small = [i for i, c in enumerate(staff) if c["value"] is not None and 0 < c["value"] < 5]  # type: ignore[operator]
    assert small, "the demo data has small cells at this split"
    hidden = [i for i, c in enumerate(viewer) if c["suppressed"]]
    # Every small cell, and the complements that keep them from being recomputed by subtraction.
    assert set(small) < set(hidden)
    for i in hidden:
        cell = viewer[i]
        assert (cell["value"], cell["numerator"], cell["achievement"], cell["n"]) == (None, None, None, 0)
        assert cell["status"] == "suppressed"
    assert [c["value"] for i, c in enumerate(staff) if i not in hidden] == [
        c["value"] for c in viewer if not c["suppressed"]
    ]


def test_bad_requests(api: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    client, headers = api
    assert client.get("/api/v1/indicators/R1.3-1/values").status_code == 401
    wrong = client.get("/api/v1/indicators/R1.3-1/values", params={"by": "colour"}, headers=headers["admin"])
    assert (wrong.status_code, wrong.json()["error"]) == (422, "invalid_request")
    assert "not disaggregated by colour" in wrong.json()["detail"]
    backwards = client.get(
        "/api/v1/indicators/R1.3-1/values", params={"from": "2028Q1", "to": "2027Q1"}, headers=headers["admin"]
    )
    assert backwards.json()["detail"] == "from=2028Q1 is after to=2027Q1"
    assert client.get("/api/v1/indicators/NOPE/values", headers=headers["admin"]).status_code == 404


def test_itt_follows_the_results_chain_and_splits_people_by_sex(
    api: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, headers = api
    body = client.get("/api/v1/itt", params={"period": "2027Q2"}, headers=headers["staff"]).json()
    assert body["period"] == "2027Q2"
    codes = list(dict.fromkeys(line["indicator"] for line in body["items"]))
    assert codes[0] == "OG-1" and codes.index("R1-1") < codes.index("R1.1-1") < codes.index("R1.3-1")
    assert len(codes) == 27
    people = [line for line in body["items"] if line["indicator"] == "R1.3-1"]
    assert people[0]["split"] == {}
    assert {line["split"].get("sex") for line in people[1:]} >= {"female", "male"}
    total = people[0]["lop"]
    assert (
        total["value"] == values(client, headers["staff"], "R1.3-1", **{"from": "2027Q2", "to": "2027Q2"})[-1]["value"]
    )


def test_partner_itt_holds_only_its_own_lines(api: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    client, headers = api
    body = client.get("/api/v1/itt", params={"period": "2027Q2"}, headers=headers["partner"]).json()
    indicators = {line["indicator"] for line in body["items"]}
    assert "OS-1" not in indicators and "R1.3-2" in indicators
    cells = [cell for line in body["items"] for cell in (line["period"], line["lop"]) if cell]
    assert cells and all(cell["dims"]["partner"] == PARTNER for cell in cells)
    viewer = client.get("/api/v1/itt", params={"period": "2027Q2"}, headers=headers["viewer"]).json()
    shown = [cell for line in viewer["items"] for cell in (line["period"], line["lop"]) if cell]
    people = {"OS-1", "R1.3-1", "R1.3-4", "R1.3-6", "R2.2-1"}
    assert not [
        c
        for line in viewer["items"]
        if line["indicator"] in people
        for c in (line["period"], line["lop"])
        if c and c["value"] is not None and 0 < c["value"] < 5
    ]
    assert shown
