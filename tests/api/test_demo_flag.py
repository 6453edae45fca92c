"""Figures computed from `sera demo` data say so (`demo: true`), and stop saying so once it is cleared."""

from fastapi.testclient import TestClient
from sqlmodel import Session

from analysis.demo import clear_demo

Api = tuple[TestClient, dict[str, dict[str, str]]]
V1 = "/api/v1"
ANSWERS = (
    ("/indicators/R1.3-1/values", {}),
    ("/itt", {"period": "2027Q1"}),
    ("/data-quality", {"period": "2027Q1"}),
)


def test_values_itt_and_findings_say_when_they_come_from_demo_data(api: Api, session: Session) -> None:
    client, headers = api
    for role in ("admin", "partner"):
        for url, params in ANSWERS:
            answer = client.get(f"{V1}{url}", params=params, headers=headers[role])
            assert answer.status_code == 200, answer.text
            assert answer.json()["demo"] is True, (role, url)
    clear_demo(session)
    session.commit()
    for url, params in ANSWERS:
        answer = client.get(f"{V1}{url}", params=params, headers=headers["admin"])
        assert answer.status_code == 200 and answer.json()["demo"] is False, url
