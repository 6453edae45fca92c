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

from analysis import values
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
from tests.audit.world import world_cells

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
    generate_demo(session, catalogue, submissions=150, seed=7)
    session.commit()
    compute(session, catalogue, full=True, person_key_secret="test-secret")
    session.commit()
    yield from _tokens(settings, session)


def audit_of(
    tokens: Tokens, session: Session, role: str, reports: tuple[str, str], only: tuple[str, ...] | None = None
) -> Audit:
    client, headers, catalogue = tokens
    partner = PARTNER if role == "partner" else None
    return collect(client, headers[role], session, catalogue, THRESHOLD, partner=partner, reports=reports, only=only)


def _report(audit: Audit, leaks: list[Any]) -> str:
    lines = [str(leak) for leak in leaks[:15]]
    shown = len(audit.shown.keys() - audit.hidden)
    return (
        f"{len(leaks)} leak(s) among {audit.figures} figures; {shown} counts shown, {len(audit.hidden)} hidden "
        f"({shown / max(1, shown + len(audit.hidden)):.1%} visible):\n" + "\n".join(lines)
    )


@pytest.mark.slow  # about a minute per token and backend: run with `-m slow`
@pytest.mark.parametrize("role", ["viewer", "partner"])
def test_nothing_a_token_can_fetch_from_the_demo_data_pins_a_hidden_cell(
    demo: Tokens, session: Session, role: str
) -> None:
    audit = audit_of(demo, session, role, ("2027Q1", "2027Q2"))
    leaks = audit.leaks()
    print(_report(audit, leaks))
    assert audit.hidden, "the demo data has cells to hide"
    assert not leaks, _report(audit, leaks)


LINKED = ("R1.3-1", "R1.3-5", "RT.1-1", "RT.1-2")
"""Running totals and the flows they add up (R1.3-5's denominator is R1.3-1 to date, RT.1-2's is RT.1-1), split
by partner × dimension × quarter: the indicators whose leaks needed the masks made together."""


def test_nothing_a_viewer_can_fetch_about_linked_demo_indicators_pins_a_hidden_cell(
    demo: Tokens, session: Session
) -> None:
    """The demo audit cut to the linked indicators and the viewer, quick enough for every CI run."""
    audit = audit_of(demo, session, "viewer", ("2027Q1", "2027Q2"), only=LINKED)
    leaks = audit.leaks()
    assert audit.hidden, "the demo data has cells to hide"
    assert not leaks, _report(audit, leaks)


# --- a small adversarial world written by hand -----------------------------------------------------------------


@pytest.fixture
def world(settings: Settings, session: Session) -> Iterator[Tokens]:
    load_catalogue(session, read_catalogue(DEFAULT_CATALOGUE), source="test")
    session.add_all(world_cells())
    session.commit()
    yield from _tokens(settings, session)


@pytest.mark.parametrize("role", ["viewer", "partner"])
def test_nothing_a_token_can_fetch_from_an_adversarial_world_pins_a_hidden_cell(
    world: Tokens, session: Session, role: str
) -> None:
    audit = audit_of(world, session, role, ("2026Q4", "2027Q1"))
    leaks = audit.leaks()
    assert audit.hidden
    assert not leaks, _report(audit, leaks)


def test_the_audit_finds_the_leaks_of_primary_suppression_alone(
    world: Tokens, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit is not vacuous: with the complementary suppression taken out, it finds the hidden cells."""

    def primary_only(cells: Any, indicators: Any, threshold: int) -> dict[str, frozenset[Any]]:
        return {
            code: frozenset(values.cell_key(c.period, c.dims) for c in rows if values.is_small(c, threshold))
            for code, rows in cells.items()
        }

    monkeypatch.setattr(values, "family_masks", primary_only)
    monkeypatch.setattr(values, "_MASKS", values._MaskCache())
    for role in ("viewer", "partner"):
        leaks = audit_of(world, session, role, ("2026Q4", "2027Q1")).leaks()
        pinned = {(leak.var[0], leak.var[2], dict(leak.var[3]).get("sex")) for leak in leaks}
        assert ("R1.3-4", "2026Q4", "male") in pinned, role
