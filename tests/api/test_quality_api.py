"""GET /api/v1/data-quality on the demo data: the findings the demo plants (late phones, late and missing partner
reports) come out, paginated and filtered, for the roles that may see them."""

from collections import Counter

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from analysis.quality import CHECKS
from analysis.tables import Fact
from tests.api.conftest import PARTNER

Api = tuple[TestClient, dict[str, dict[str, str]]]
URL = "/api/v1/data-quality"
PERIOD = "2027Q2"


def _all(client: TestClient, headers: dict[str, str], **params: str) -> list[dict]:
    items: list[dict] = []
    offset = 0
    while True:
        body = client.get(URL, params={"period": PERIOD, **params, "offset": offset, "limit": 50}, headers=headers)
        assert body.status_code == 200, body.text
        page = body.json()
        items += page["items"]
        offset += 50
        if offset >= page["total"]:
            assert len(items) == page["total"]
            return items


def test_the_officer_sees_the_findings_the_demo_plants(api: Api, session: Session) -> None:
    client, headers = api
    body = client.get(URL, params={"period": PERIOD, "limit": 1000}, headers=headers["admin"])
    assert body.status_code == 200, body.text
    page = body.json()
    assert set(page) == {"period", "items", "total", "summary", "as_of", "demo"} and page["demo"] is True
    assert page["period"] == PERIOD and page["total"] == len(page["items"]) > 0
    checks = Counter(item["check"] for item in page["items"])
    assert checks["missing_report"] > 0, "the demo leaves partner reports unsent"
    assert checks["late_submission"] > 0, "the demo has offline phones and late reports"
    item = page["items"][0]
    assert set(item) == {
        "check",
        "severity",
        "period",
        "form_id",
        "partner",
        "subject",
        "message",
        "submissions",
        "value",
    }
    assert [i["check"] for i in page["items"]] == sorted((i["check"] for i in page["items"]), key=CHECKS.index)
    for finding in page["items"]:
        assert finding["severity"] in ("error", "warning", "info")
        assert finding["message"]["fr"] and finding["message"]["ar"]
        assert all(rid.isdigit() for rid in finding["submissions"])  # Kobo `_id`s
    missing = [i for i in page["items"] if i["check"] == "missing_report"]
    assert all(i["form_id"] == "grant_report" and i["subject"].startswith("grant ") for i in missing)
    assert all(i["severity"] == "error" and i["partner"] for i in missing)
    summary = {row["check"]: row for row in page["summary"]}
    assert [row["check"] for row in page["summary"]] == list(CHECKS)
    assert summary["missing_report"]["error"] == summary["missing_report"]["total"] == checks["missing_report"]
    assert sum(row["total"] for row in page["summary"]) == page["total"]
    # Never a person key in what is served.
    keys = {key for key in session.exec(select(Fact.person_key).where(col(Fact.person_key).is_not(None))) if key}
    assert keys and not any(key in body.text for key in keys)


def test_pages_and_filters(api: Api) -> None:
    client, headers = api
    everything = _all(client, headers["admin"])
    assert _all(client, headers["staff"]) == everything
    late = _all(client, headers["admin"], check="late_submission")
    assert late == [i for i in everything if i["check"] == "late_submission"]
    attendance = _all(client, headers["admin"], form="attendance")
    assert attendance and attendance == [i for i in everything if i["form_id"] == "attendance"]
    errors = _all(client, headers["admin"], severity="error")
    assert errors == [i for i in everything if i["severity"] == "error"]
    page = client.get(URL, params={"period": PERIOD, "offset": 2, "limit": 3}, headers=headers["admin"]).json()
    assert page["items"] == everything[2:5] and page["total"] == len(everything)
    filtered = client.get(URL, params={"period": PERIOD, "check": "outlier"}, headers=headers["admin"]).json()
    unfiltered = client.get(URL, params={"period": PERIOD}, headers=headers["admin"]).json()
    assert filtered["summary"] == unfiltered["summary"]  # the summary counts every check for the tabs
    unknown = client.get(URL, params={"period": PERIOD, "check": "spelling"}, headers=headers["admin"])
    assert unknown.status_code == 422


def test_a_partner_sees_only_its_own_findings(api: Api) -> None:
    client, headers = api
    everything = _all(client, headers["admin"])
    own = _all(client, headers["partner"])
    assert own == [i for i in everything if i["partner"] == PARTNER]
    assert own and all(i["partner"] == PARTNER for i in own)
    assert _all(client, headers["partner"], partner=PARTNER) == own
    assert _all(client, headers["admin"], partner=PARTNER) == own
    other = client.get(URL, params={"period": PERIOD, "partner": "ORI-01"}, headers=headers["partner"])
    assert other.status_code == 403 and other.json()["error"] == "forbidden"


def test_roles_and_bad_requests(api: Api) -> None:
    client, headers = api
    viewer = client.get(URL, params={"period": PERIOD}, headers=headers["viewer"])
    assert viewer.status_code == 403 and viewer.json()["error"] == "forbidden"
    assert client.get(URL, params={"period": PERIOD}).status_code == 401
    for params in ({"period": "2027-Q2"}, {}, {"period": PERIOD, "check": "typos"}, {"period": PERIOD, "limit": 0}):
        answer = client.get(URL, params=params, headers=headers["admin"])
        assert answer.status_code == 422, params
        assert set(answer.json()) == {"error", "detail"} and answer.json()["error"] == "invalid_request"
    outside = client.get(URL, params={"period": "2031Q1"}, headers=headers["admin"])
    assert outside.status_code == 404 and outside.json()["error"] == "not_found"  # as reports and the ITT
