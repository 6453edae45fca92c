"""The read endpoints of the catalogue, on both databases, through the real app and its error mapping."""

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.app import create_app
from catalogue.model import Catalogue, Revision
from catalogue.store import load_catalogue
from sera.settings import Settings
from tests.catalogue.test_store import with_target


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def loaded(session: Session, minimal_catalogue: Catalogue) -> Catalogue:
    load_catalogue(session, minimal_catalogue, source="test")
    session.commit()
    return minimal_catalogue


def test_health_says_when_no_catalogue_is_loaded(client: TestClient) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 503
    assert response.json()["status"] == "no_catalogue"


def test_health_is_ok_with_a_catalogue(client: TestClient, loaded: Catalogue) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["database"], body["programme"]) == ("ok", "ok", "DEMO")


def test_read_endpoints_answer_503_in_the_error_shape_before_any_load(client: TestClient) -> None:
    response = client.get("/api/v1/indicators")
    assert response.status_code == 503
    assert response.json() == {
        "error": "no_catalogue",
        "detail": "no catalogue is loaded: run `sera catalogue load` first",
    }


def test_results_is_the_tree_with_indicators_on_their_nodes(client: TestClient, loaded: Catalogue) -> None:
    body = client.get("/api/v1/results").json()
    assert body["total"] == 1
    impact = body["items"][0]
    assert (impact["code"], impact["level"]) == ("OG", "impact")
    outcome = impact["children"][0]
    assert (outcome["code"], outcome["indicators"]) == ("R1", ["IND2"])
    assert outcome["risks"][0]["mitigation"] == {"fr": "Suivi mensuel", "ar": "متابعة شهرية"}
    output = outcome["children"][0]
    assert (output["code"], output["indicators"], output["children"]) == ("R1.1", ["IND1"], [])


def test_indicators_list_pages_and_filters(client: TestClient, loaded: Catalogue) -> None:
    body = client.get("/api/v1/indicators").json()
    assert body["total"] == 2
    assert [item["code"] for item in body["items"]] == ["IND1", "IND2"]
    assert body["items"][0]["name"] == {"fr": "Personnes formées", "ar": "الأشخاص المكونون"}
    page = client.get("/api/v1/indicators", params={"offset": 1, "limit": 1}).json()
    assert (page["total"], [i["code"] for i in page["items"]]) == (2, ["IND2"])
    by_result = client.get("/api/v1/indicators", params={"result": "R1.1"}).json()
    assert [i["code"] for i in by_result["items"]] == ["IND1"]


def test_bad_paging_is_a_422_in_the_error_shape(client: TestClient, loaded: Catalogue) -> None:
    response = client.get("/api/v1/indicators", params={"limit": 0})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_request"
    assert body["detail"].startswith("query.limit:")


def test_unknown_indicator_is_a_404_in_the_error_shape(client: TestClient, loaded: Catalogue) -> None:
    response = client.get("/api/v1/indicators/NOPE")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "no indicator 'NOPE' in the current catalogue"}


def test_indicator_detail_has_baseline_targets_and_history(
    client: TestClient, session: Session, loaded: Catalogue
) -> None:
    revision = Revision(date=dt.date(2026, 7, 1), reason="adaptive_management", rationale="Cible T4 relevée.")
    load_catalogue(session, with_target(loaded, "IND1", "2026Q4", 35, revision), source="test")
    session.commit()
    body = client.get("/api/v1/indicators/IND1").json()
    assert body["version"] == 2
    assert body["baseline"]["value"] == 0
    assert {"period": "2026Q4", "value": 35.0, "by": {}} in body["targets"]
    assert {"period": "LOP", "value": 50.0, "by": {"sex": "female"}} in body["targets"]
    assert body["revision"] == {"date": "2026-07-01", "reason": "adaptive_management", "rationale": "Cible T4 relevée."}
    first, second = body["history"]
    assert (first["version"], first["revision"]["reason"]) == (1, "initial")
    assert {"period": "2026Q4", "value": 30.0, "by": {}} in first["targets"]
    assert second["changed"] == ["targets"]
    assert body["measure"]["aggregation"] == "distinct_people"


def test_openapi_is_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert {"/api/v1/health", "/api/v1/results", "/api/v1/indicators", "/api/v1/indicators/{code}"} <= set(paths)
