"""A loaded PRIM 2 catalogue with computed demo data, and a token per role, behind the real app."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from analysis.compute import compute
from analysis.demo import generate_demo
from api.app import create_app
from catalogue.store import load_catalogue, stored_catalogue
from catalogue.validation import read_catalogue
from sera.settings import DEFAULT_CATALOGUE, Settings
from sera.tokens import create_token

PARTNER = "SM-01"


@pytest.fixture
def api(settings: Settings, session: Session) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    load_catalogue(session, read_catalogue(DEFAULT_CATALOGUE), source="test")
    catalogue = stored_catalogue(session)
    generate_demo(session, catalogue, submissions=900, seed=7)
    session.commit()
    compute(session, catalogue, full=True, person_key_secret="test-secret")
    session.commit()
    headers = {}
    for role in ("admin", "staff", "partner", "viewer"):
        _row, token = create_token(session, role, organisation=PARTNER if role == "partner" else None)
        headers[role] = {"Authorization": f"Bearer {token}"}
    session.commit()
    with TestClient(create_app(settings)) as client:
        yield client, headers
