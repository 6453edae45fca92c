"""Fixtures of the indicator engine tests: the test catalogue and a store of submissions on both platforms."""

import datetime as dt

import pytest
from sqlmodel import Session

from analysis.compute import ComputeReport, compute
from catalogue.model import Catalogue
from tests.analysis.builders import SECRET, Store, attend, engine_catalogue


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return engine_catalogue()


@pytest.fixture
def store(session: Session, catalogue: Catalogue) -> Store:
    return Store(session, catalogue)


TODAY = dt.date(2026, 8, 15)
"""The tests' today: cumulative cells run to its quarter (2026Q3) or to later data, whatever day tests run on."""


def run(session: Session, catalogue: Catalogue, *, full: bool = False) -> ComputeReport:
    """A compute run with the test secret, committed as the CLI would."""
    report = compute(session, catalogue, full=full, person_key_secret=SECRET, today=TODAY)
    session.commit()
    return report


@pytest.fixture
def five_contacts(store: Store) -> dict[str, str]:
    """Aïcha in Q1 and Q3 (written two ways), Omar twice in Q1, Sara in Q3 with no province."""
    return {
        "aicha_q1": attend(store, "Aïcha Benali", "2026-02-10", phone="06 12 34 56 78"),
        "aicha_q3": attend(store, "  aicha   BENALI ", "2026-08-05", phone="+212612345678"),
        "omar_1": attend(store, "Omar Idrissi", "2026-02-20", sex="male", province="09.001", grant="G2"),
        "omar_2": attend(store, "Omar Idrissi", "2026-03-01", sex="male", province="09.001", grant="G2"),
        "sara": attend(store, "Sara K", "2026-08-10", province=None),
    }
