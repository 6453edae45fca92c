"""Raw submissions: everything for the SERA officer; a partner's own only, without identifying answers."""

from fastapi.testclient import TestClient

from analysis.submissions import protected_questions
from catalogue.validation import read_catalogue
from sera.settings import DEFAULT_CATALOGUE
from tests.api.conftest import PARTNER


def _keys(data: object) -> set[str]:
    if isinstance(data, dict):
        return {str(k).rsplit("/", 1)[-1] for k in data} | {k for v in data.values() for k in _keys(v)}
    if isinstance(data, list):
        return {k for item in data for k in _keys(item)}
    return set()


def test_admin_reads_raw_submissions_whole(api: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    client, headers = api
    body = client.get(
        "/api/v1/submissions", params={"form": "attendance", "limit": 50}, headers=headers["admin"]
    ).json()
    assert body["total"] > 50 and len(body["items"]) == 50
    item = body["items"][0]
    assert set(item) == {
        "connection",
        "form_id",
        "remote_id",
        "root_id",
        "instance_id",
        "form_version",
        "submitted_at",
        "updated_at",
        "deleted",
        "data",
    }
    assert (item["connection"], item["form_id"], item["deleted"]) == ("demo", "attendance", False)
    pii = protected_questions(read_catalogue(DEFAULT_CATALOGUE), "attendance")
    assert pii & set().union(*(_keys(i["data"]) for i in body["items"])), "the officer sees identifying answers"


def test_a_partner_reads_its_own_without_identifying_answers(
    api: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, headers = api
    catalogue = read_catalogue(DEFAULT_CATALOGUE)
    form = next(f for f in catalogue.forms if f.id == "attendance")
    assert form.organisation is not None
    body = client.get(
        "/api/v1/submissions", params={"form": "attendance", "limit": 1000}, headers=headers["partner"]
    ).json()
    admin_total = client.get("/api/v1/submissions", params={"form": "attendance"}, headers=headers["admin"]).json()
    assert 0 < body["total"] < admin_total["total"]
    for item in body["items"]:
        answers = {k.rsplit("/", 1)[-1]: v for k, v in item["data"].items()}
        assert answers[form.organisation] == PARTNER
        assert not (_keys(item["data"]) & protected_questions(catalogue, "attendance"))


def test_staff_and_viewers_get_no_raw_data(api: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    client, headers = api
    for role in ("staff", "viewer"):
        response = client.get("/api/v1/submissions", headers=headers[role])
        assert response.status_code == 403
        assert response.json()["error"] == "forbidden"
    assert client.get("/api/v1/submissions").status_code == 401
