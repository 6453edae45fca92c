"""Every value traces back to the submissions that make it, by the same period rules as the value."""

import pytest
from sqlmodel import Session

from analysis.trace import cell_sources
from catalogue.model import Catalogue
from tests.analysis.builders import Store
from tests.analysis.conftest import run


def roots(session: Session, catalogue: Catalogue, code: str, period: str, **dims: str) -> set[str]:
    return {source.root_id for source in cell_sources(session, catalogue, code, period, dims)}


def test_sources_follow_the_time_aggregation(
    session: Session, catalogue: Catalogue, store: Store, five_contacts: dict[str, str]
) -> None:
    run(session, catalogue)
    c = five_contacts
    assert roots(session, catalogue, "CONTACTS", "2026Q3") == {c["aicha_q3"], c["sara"]}
    assert roots(session, catalogue, "CONTACTS_CUM", "2026Q3") == set(c.values())
    assert roots(session, catalogue, "CONTACTS_LATEST", "LOP", sex="male") == {c["omar_1"], c["omar_2"]}
    # LOP of a stock: each reporter's (sex's) own latest quarter, women in Q3 and men in Q1.
    assert roots(session, catalogue, "CONTACTS_LATEST", "LOP") == {c["aicha_q3"], c["sara"], c["omar_1"], c["omar_2"]}
    # New people in Q3 is Sara alone: Aïcha's Q3 contact does not make that value.
    assert roots(session, catalogue, "PEOPLE", "2026Q3") == {c["sara"]}
    assert roots(session, catalogue, "PEOPLE", "LOP", region="09") == {c["omar_1"], c["omar_2"]}
    sources = cell_sources(session, catalogue, "PEOPLE", "2026Q3")
    assert [s.form_id for s in sources] == ["attendance"]


def test_deleted_submissions_leave_the_trace(
    session: Session, catalogue: Catalogue, store: Store, five_contacts: dict[str, str]
) -> None:
    store.delete("attendance", five_contacts["sara"])
    run(session, catalogue)
    assert roots(session, catalogue, "CONTACTS", "2026Q3") == {five_contacts["aicha_q3"]}


def test_unknown_dimensions_are_refused(session: Session, catalogue: Catalogue) -> None:
    with pytest.raises(KeyError, match="not disaggregated by 'partner'"):
        cell_sources(session, catalogue, "PEOPLE", "LOP", {"partner": "P1"})
