"""Cumulative cells run from their first quarter with data to the current (or latest reported) quarter.

A running total to date exists in every quarter after the indicator's last data: the ITT of a later quarter shows
it instead of a blank (PRIM 2's R1.1-3 stopped at 2026Q4 while the ITT of 2027Q2 was asked).
"""

import datetime as dt

from sqlmodel import Session

from analysis.compute import ComputeReport, compute
from catalogue.model import Catalogue
from tests.analysis.builders import SECRET, Store, all_values, attend, report, values


def _run(session: Session, catalogue: Catalogue, today: str, *, full: bool = False) -> ComputeReport:
    done = compute(session, catalogue, full=full, person_key_secret=SECRET, today=dt.date.fromisoformat(today))
    session.commit()
    return done


def _quarters(session: Session, code: str) -> dict[str, float | None]:
    return {period: cell[0] for (period, key), cell in values(session, code).items() if key == ""}


def _same_as_full(session: Session, catalogue: Catalogue, today: str) -> None:
    incremental = all_values(session)
    assert _run(session, catalogue, today, full=True).cells_changed == 0
    assert all_values(session) == incremental


def test_a_running_total_exists_up_to_the_current_quarter(session: Session, catalogue: Catalogue, store: Store) -> None:
    attend(store, "Ana", "2026-02-01")
    attend(store, "Ben", "2026-05-01")
    _run(session, catalogue, "2026-11-15")
    assert _quarters(session, "CONTACTS_CUM") == {"2026Q1": 1, "2026Q2": 2, "2026Q3": 2, "2026Q4": 2, "LOP": 2}
    later = _run(session, catalogue, "2027-05-01")  # nothing new: the quarter turned
    assert later.mode == "incremental" and later.submissions == 0
    assert _quarters(session, "CONTACTS_CUM")["2027Q2"] == 2 and "2027Q3" not in _quarters(session, "CONTACTS_CUM")
    _same_as_full(session, catalogue, "2027-05-01")
    _run(session, catalogue, "2031-01-01")  # past the programme: its last quarter
    assert max(_quarters(session, "CONTACTS_CUM").keys() - {"LOP"}) == "2027Q4"
    _same_as_full(session, catalogue, "2031-01-01")


def test_a_running_total_exists_up_to_the_latest_quarter_reported(
    session: Session, catalogue: Catalogue, store: Store
) -> None:
    """Data dated after today (a demo, a programme read back later): cumulative cells follow the latest data of
    any indicator, not only their own."""
    attend(store, "Ana", "2026-02-01")
    _run(session, catalogue, "2026-03-01")
    assert _quarters(session, "CONTACTS_CUM") == {"2026Q1": 1, "LOP": 1}
    late = report(store, "P1", "2027-09-30", 10, 5)
    _run(session, catalogue, "2026-03-01")
    assert _quarters(session, "CONTACTS_CUM")["2027Q3"] == 1
    assert "2027Q4" not in _quarters(session, "CONTACTS_CUM")
    _same_as_full(session, catalogue, "2026-03-01")
    store.delete("report", late)
    _run(session, catalogue, "2026-03-01")
    assert _quarters(session, "CONTACTS_CUM") == {"2026Q1": 1, "LOP": 1}
    _same_as_full(session, catalogue, "2026-03-01")
