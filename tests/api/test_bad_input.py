"""Requests found to crash the API (schemathesis and by hand): each gets a 4xx with the error shape."""

from fastapi.testclient import TestClient

from api.deps import MAX_OFFSET

Api = tuple[TestClient, dict[str, dict[str, str]]]
V1 = "/api/v1"


def _refused(response: object, status: int) -> dict[str, str]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error", "detail"} and body["detail"], body
    return body  # type: ignore[no-any-return]


def test_requests_that_crashed_get_a_4xx_with_the_error_shape(api: Api) -> None:
    _quarters_outside_the_programme_are_404_everywhere(api)
    _offsets_beyond_any_database_integer_are_422_on_every_list(api)


def _quarters_outside_the_programme_are_404_everywhere(api: Api) -> None:
    client, headers = api
    for period in ("0000Q1", "9999Q4", "1999Q1", "2025Q4", "2029Q1"):
        for url in ("/data-quality", "/itt"):
            body = _refused(client.get(f"{V1}{url}", params={"period": period}, headers=headers["admin"]), 404)
            assert body["error"] == "not_found" and "2026Q1 to 2028Q4" in body["detail"], (url, body)
        _refused(client.get(f"{V1}/reports/quarterly/{period}.xlsx", headers=headers["admin"]), 404)
        _refused(client.post(f"{V1}/reports/quarterly/{period}/issues", headers=headers["admin"]), 404)
    # A quarter of the programme is answered by all three.
    assert client.get(f"{V1}/itt", params={"period": "2026Q1"}, headers=headers["admin"]).status_code == 200
    assert client.get(f"{V1}/data-quality", params={"period": "2028Q4"}, headers=headers["admin"]).status_code == 200


def _offsets_beyond_any_database_integer_are_422_on_every_list(api: Api) -> None:
    client, headers = api
    for url, params in (
        ("/submissions", {}),
        ("/sync/runs", {}),
        ("/reports/quarterly", {}),
        ("/data-quality", {"period": "2027Q1"}),
        ("/indicators/R1.3-1/values", {}),
    ):
        for offset in (2**63, 2**63 - 1, MAX_OFFSET + 1, 10**30):
            body = _refused(
                client.get(f"{V1}{url}", params={**params, "offset": offset}, headers=headers["admin"]), 422
            )
            assert body["error"] == "invalid_request" and "offset" in body["detail"], (url, body)
        at_limit = client.get(f"{V1}{url}", params={**params, "offset": MAX_OFFSET}, headers=headers["admin"])
        assert at_limit.status_code == 200 and at_limit.json()["items"] == [], (url, at_limit.text)
