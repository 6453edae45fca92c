"""Issuing a quarter's report from several requests at once: editions 1…N, numbered in the order they were dated."""

import threading
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient
from httpx import Response

Api = tuple[TestClient, dict[str, dict[str, str]]]
PERIOD = "2026Q3"
REQUESTS = 6


def test_simultaneous_issues_get_one_edition_each_in_issued_order(api: Api) -> None:
    client, headers = api
    start = threading.Barrier(REQUESTS)

    def issue(_n: int) -> Response:
        start.wait()
        return client.post(f"/api/v1/reports/quarterly/{PERIOD}/issues", headers=headers["admin"])

    with ThreadPoolExecutor(REQUESTS) as pool:
        answers = list(pool.map(issue, range(REQUESTS)))
    assert [a.status_code for a in answers] == [201] * REQUESTS, [a.text for a in answers if a.status_code != 201]
    assert sorted(a.json()["number"] for a in answers) == list(range(1, REQUESTS + 1))
    listed = client.get("/api/v1/reports/quarterly", headers=headers["admin"]).json()["items"]
    assert [i["number"] for i in listed] == list(range(1, REQUESTS + 1))
    dates = [i["issued_at"] for i in listed]
    assert dates == sorted(dates), "edition numbers follow the time they were issued"
