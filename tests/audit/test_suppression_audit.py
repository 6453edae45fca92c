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
from analysis.tables import IndicatorValue
from api.app import create_app
from catalogue.model import LIFE_OF_PROGRAMME, Catalogue
from catalogue.store import load_catalogue, split_key, stored_catalogue
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


# --- a small adversarial world written by hand -----------------------------------------------------------------

Record = dict[str, Any]


def _people(count: int, quarter: str, **dims: Any) -> list[Record]:
    return [{"quarter": quarter, **dims} for _ in range(count)]


WORLD: dict[str, tuple[str, list[str], list[Record]]] = {
    # Partner SM-01 reached 3 men in 2026Q4 and 6 in 2027Q1: its reports' to date (3, then 9) gave the first away.
    "R1.3-4": (
        "flow",
        ["sex", "partner"],
        _people(3, "2026Q4", sex="male", partner="SM-01")
        + _people(6, "2027Q1", sex="male", partner="SM-01")
        + _people(20, "2026Q4", sex="female", partner="SM-01")
        + _people(30, "2027Q1", sex="female", partner="SM-01")
        + _people(10, "2026Q4", sex="male", partner="SM-02")
        + _people(12, "2027Q1", sex="male", partner="SM-02")
        + _people(15, "2026Q4", sex="female", partner="SM-02")
        + _people(8, "2027Q1", sex="female", partner="SM-02"),
    ),
    # Region 09 does not move after 2026Q4 while region 11 gains 3 people: the hidden 2027Q1 of region 09 sat
    # between two equal visible values.
    "R2.2-3": (
        "running",
        ["sex", "region"],
        _people(15, "2026Q4", sex="female", region="09", num=1)
        + _people(15, "2026Q4", sex="male", region="09", num=1)
        + _people(8, "2026Q4", sex="female", region="09", num=0)
        + _people(20, "2026Q4", sex="male", region="11", num=1)
        + _people(2, "2026Q4", sex="female", region="11", num=0)
        + _people(2, "2027Q1", sex="male", region="11", num=1)
        + _people(1, "2027Q1", sex="female", region="11", num=0)
        + _people(8, "2027Q2", sex="male", region="11", num=1)
        + _people(2, "2027Q2", sex="female", region="11", num=0),
    ),
    # One sensitive complaint by a woman about SM-01, and a handful of others: served raw before.
    "RT.1-1": (
        "flow",
        ["sex", "feedback_category", "partner"],
        _people(1, "2026Q4", sex="female", feedback_category="sensitive", partner="SM-01")
        + _people(12, "2026Q4", sex="female", feedback_category="service", partner="SM-01")
        + _people(9, "2026Q4", sex="male", feedback_category="service", partner="SM-02")
        + _people(2, "2026Q4", sex="male", feedback_category="access", partner="SM-01")
        + _people(7, "2027Q1", sex="female", feedback_category="service", partner="SM-02")
        + _people(8, "2027Q1", sex="male", feedback_category="service", partner="SM-01"),
    ),
}
"""Indicator → (`flow`: a count per quarter, LOP the sum; `running`: a ratio to date, LOP the last quarter),
the dimensions kept, and one record per person (or complaint); `num` marks a ratio's numerator."""
WORLD_QUARTERS = ("2026Q4", "2027Q1", "2027Q2")


def _world_cells() -> list[IndicatorValue]:
    """Every grouping of at most two dimensions, every quarter and LOP, added up from the records."""
    rows = []
    kept = {i.code: i.disaggregations for i in read_catalogue(DEFAULT_CATALOGUE).indicators}
    for code, (kind, named, written) in WORLD.items():
        dims = [*named, *(d for d in kept[code] if d not in named)]
        records = [{d: "x" for d in dims} | record for record in written]  # one value of every other dimension
        groupings = [()] + [(d,) for d in dims] + [(a, b) for i, a in enumerate(dims) for b in dims[i + 1 :]]
        for grouping in groupings:
            periods = [*WORLD_QUARTERS, LOP]
            for period in periods:
                if kind == "flow":
                    chosen = [r for r in records if period in (LOP, r["quarter"])]
                else:
                    last = period if period != LOP else WORLD_QUARTERS[-1]
                    chosen = [r for r in records if r["quarter"] <= last]
                groups: dict[tuple[str, ...], list[Record]] = {}
                for record in chosen:
                    groups.setdefault(tuple(record[d] for d in grouping), []).append(record)
                for key, members in groups.items():
                    split = dict(zip(grouping, key, strict=True))
                    if kind == "flow":
                        value, numerator, denominator = float(len(members)), None, None
                    else:
                        numerator, denominator = float(sum(r["num"] for r in members)), float(len(members))
                        value = 100 * numerator / denominator
                    rows.append(
                        IndicatorValue(
                            indicator=code,
                            period=period,
                            grouping=",".join(sorted(split)),
                            dims_key=split_key(split),
                            dims=split,
                            value=value,
                            numerator=numerator,
                            denominator=denominator,
                            n=len(members),
                        )
                    )
    return rows


@pytest.fixture
def world(settings: Settings, session: Session) -> Iterator[Tokens]:
    load_catalogue(session, read_catalogue(DEFAULT_CATALOGUE), source="test")
    session.add_all(_world_cells())
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

    def primary_only(cells: Any, threshold: int, *, time_aggregation: Any) -> frozenset[Any]:
        return frozenset(values.cell_key(c.period, c.dims) for c in cells if values.is_small(c, threshold))

    monkeypatch.setattr(values, "complementary_suppression", primary_only)
    monkeypatch.setattr(values, "_MASKS", values._MaskCache())
    for role in ("viewer", "partner"):
        leaks = audit_of(world, session, role, ("2026Q4", "2027Q1")).leaks()
        pinned = {(leak.var[0], leak.var[2], dict(leak.var[3]).get("sex")) for leak in leaks}
        assert ("R1.3-4", "2026Q4", "male") in pinned, role
