"""The suppression audit: everything a partner or a viewer token can obtain passes one linear-programming audit.

For each token, `tests.audit.collect` gathers every figure it can fetch (values API for every stored grouping, all
quarters and LOP, the ITT of every quarter, two consecutive quarterly reports with their to-date columns) and
`tests.audit.lp` bounds every hidden cell from all of them at once. No hidden cell may be pinned within less than
the threshold, no count of 1 to 4 may be shown. On the demo data, on a small adversarial world written by hand,
and, to show the audit can fail, on the same data with suppression weakened to primary only.
"""

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from analysis.compute import compute
from analysis.demo import generate_demo
from api.app import create_app
from catalogue.model import LIFE_OF_PROGRAMME, Catalogue
from catalogue.store import load_catalogue, stored_catalogue
from catalogue.validation import read_catalogue
from sera.settings import DEFAULT_CATALOGUE, Settings
from sera.tokens import create_token
from tests.audit.collect import collect
from tests.audit.lp import Audit

THRESHOLD = 5
PARTNER = "SM-01"
LOP = LIFE_OF_PROGRAMME
Tokens = tuple[TestClient, dict[str, dict[str, str]], Catalogue]


def _tokens(settings: Settings, session: Session) -> Iterator[Tokens]:
    headers = {}
    for role in ("partner", "viewer"):
        _row, token = create_token(session, role, organisation=PARTNER if role == "partner" else None)
        headers[role] = {"Authorization": f"Bearer {token}"}
    session.commit()
    with TestClient(create_app(settings)) as client:
        yield client, headers, stored_catalogue(session)


@pytest.fixture
def demo(settings: Settings, session: Session) -> Iterator[Tokens]:
    load_catalogue(session, read_catalogue(DEFAULT_CATALOGUE), source="test")
    catalogue = stored_catalogue(session)
    generate_demo(session, catalogue, submissions=300, seed=7)
    session.commit()
    compute(session, catalogue, full=True, person_key_secret="test-secret")
    session.commit()
    yield from _tokens(settings, session)


def audit_of(tokens: Tokens, session: Session, role: str, reports: tuple[str, str]) -> Audit:
    client, headers, catalogue = tokens
    partner = PARTNER if role == "partner" else None
    return collect(client, headers[role], session, catalogue, THRESHOLD, partner=partner, reports=reports)


def _report(audit: Audit, leaks: list[Any]) -> str:
    lines = [str(leak) for leak in leaks[:15]]
    return f"{len(leaks)} leak(s) among {audit.figures} figures, {len(audit.hidden)} hidden:\n" + "\n".join(lines)


@pytest.mark.parametrize("role", ["viewer", "partner"])
def test_nothing_a_token_can_fetch_from_the_demo_data_pins_a_hidden_cell(
    demo: Tokens, session: Session, role: str
) -> None:
    import time

    t = time.time()
    audit = audit_of(demo, session, role, ("2027Q1", "2027Q2"))
    print("collect", time.time() - t)
    t = time.time()
    leaks = audit.leaks()
    print("leaks", time.time() - t)
    assert audit.hidden, "the demo data has cells to hide"
    assert not leaks, _report(audit, leaks)
