"""Quarterly reports from hand-made submissions: to-date figures, freezing, restatements, partner copies.

Hand-computed: Aïcha (Q1 and Q3), Omar (twice in Q1) and Sara (Q3) give, in Q3, 2 contacts and 1 new person
(Aïcha comes back), 5 contacts and 3 people to date.
"""

import datetime as dt
import io

import pytest
from openpyxl import load_workbook
from sqlmodel import Session

from analysis.report.content import PROGRAMME, Figure, IttRow, ReportContent
from analysis.report.issues import (
    ReportProblem,
    draft_quarterly,
    find_issue,
    issue_quarterly,
    issued_content,
)
from analysis.report.workbook import SHEET_ITT, SHEET_RESTATEMENTS, partner_sheet_title, report_xlsx
from catalogue.model import Catalogue
from tests.analysis.builders import Store, attend
from tests.analysis.conftest import run

AFTER_Q1 = dt.datetime(2026, 4, 15, 9, 0, tzinfo=dt.UTC)
AFTER_Q3 = dt.datetime(2026, 10, 20, 9, 0, tzinfo=dt.UTC)


def line(content: ReportContent, code: str, split: dict[str, str] | None = None, scope: str = PROGRAMME) -> IttRow:
    return next(r for r in content.itt if r.indicator == code and r.split == (split or {}) and r.scope == scope)


def test_to_date_follows_each_time_aggregation(
    session: Session, catalogue: Catalogue, store: Store, five_contacts: dict
) -> None:
    run(session, catalogue)
    content = draft_quarterly(session, catalogue, "2026Q3", threshold=0, now=AFTER_Q3)
    people = line(content, "PEOPLE")
    assert people.period is not None and people.period.value == 1  # Sara; Aïcha was reached in Q1
    assert people.to_date is not None and people.to_date.value == 3
    assert people.lop_target == 4 and people.lop_achievement == pytest.approx(75.0)
    assert line(content, "CONTACTS").to_date.value == 5  # type: ignore[union-attr]  # Σ quarters
    assert line(content, "CONTACTS_CUM").to_date.value == 5  # type: ignore[union-attr]  # the quarter's own
    # A stock: each finest cell's latest quarter, summed (women last reported in Q3: 2; men in Q1: 2).
    assert line(content, "CONTACTS_LATEST").to_date.value == 4  # type: ignore[union-attr]
    assert line(content, "CONTACTS_LATEST").period.value == 2  # type: ignore[union-attr]  # Q3's own rows
    assert line(content, "PEOPLE", {"sex": "female"}).to_date.value == 2  # type: ignore[union-attr]
    assert line(content, "PEOPLE", {"sex": "male"}).to_date.value == 1  # type: ignore[union-attr]
    q1 = draft_quarterly(session, catalogue, "2026Q1", threshold=0, now=AFTER_Q3)
    assert line(q1, "PEOPLE").period.value == 2  # type: ignore[union-attr]
    assert line(q1, "PEOPLE").status == "on_track"  # target 2 in 2026Q1
    assert line(q1, "CONTACTS").to_date.value == 3  # type: ignore[union-attr]


def test_an_issued_report_keeps_its_figures_and_later_ones_restate_them(
    session: Session, catalogue: Catalogue, store: Store, five_contacts: dict
) -> None:
    run(session, catalogue)
    first = issue_quarterly(session, catalogue, "2026Q1", threshold=0, issued_by="test", now=AFTER_Q1)
    session.commit()
    assert first.number == 1 and first.restatements == 0
    # A phone that stayed offline brings a March attendance in May: Q1 changes after it was reported.
    attend(store, "Nadia", "2026-03-20", submitted="2026-05-01T10:00:00")
    run(session, catalogue)

    frozen = issued_content(find_issue(session, "2026Q1"))  # type: ignore[arg-type]
    assert line(frozen, "PEOPLE").period.value == 2  # type: ignore[union-attr]
    assert line(frozen, "CONTACTS").period.value == 3  # type: ignore[union-attr]

    q3 = draft_quarterly(session, catalogue, "2026Q3", threshold=0, now=AFTER_Q3)
    restated = {(r.report_period, r.indicator, r.column, tuple(r.split.items())): r for r in q3.restatements}
    people = restated[("2026Q1", "PEOPLE", "period", ())]
    assert people.reported.value == 2 and people.current.value == 3  # type: ignore[union-attr]
    assert people.issue == 1
    contacts_female = restated[("2026Q1", "CONTACTS", "period", (("sex", "female"),))]
    assert contacts_female.reported.value == 1 and contacts_female.current.value == 2  # type: ignore[union-attr]
    assert ("2026Q1", "PEOPLE", "period", (("sex", "male"),)) not in restated  # Omar's figure did not move

    second = issue_quarterly(session, catalogue, "2026Q1", threshold=0, issued_by="test", now=AFTER_Q3)
    session.commit()
    assert second.number == 2 and second.restatements > 0
    assert line(issued_content(second), "PEOPLE").period.value == 3  # type: ignore[union-attr]
    assert line(issued_content(find_issue(session, "2026Q1", 1)), "PEOPLE").period.value == 2  # type: ignore[arg-type,union-attr]
    # Once re-issued, the next report restates nothing of Q1 any more.
    q3_again = draft_quarterly(session, catalogue, "2026Q3", threshold=0, now=AFTER_Q3)
    assert not [r for r in q3_again.restatements if r.report_period == "2026Q1"]


def test_a_quarter_is_issued_only_once_it_has_ended(session: Session, catalogue: Catalogue, store: Store) -> None:
    with pytest.raises(ReportProblem, match="ends on 30/06/2026"):
        issue_quarterly(session, catalogue, "2026Q2", threshold=0, issued_by="test", now=AFTER_Q1)
    with pytest.raises(ReportProblem, match="not a quarter of"):
        draft_quarterly(session, catalogue, "2031Q1", threshold=0, now=AFTER_Q1)


def test_small_counts_are_hidden_in_the_report(
    session: Session, catalogue: Catalogue, store: Store, five_contacts: dict
) -> None:
    run(session, catalogue)
    content = draft_quarterly(session, catalogue, "2026Q3", threshold=5, now=AFTER_Q3)
    people = line(content, "PEOPLE")
    assert people.period is not None and people.period.suppressed and people.period.value is None
    assert people.to_date is not None and people.to_date.suppressed and people.to_date.value is None
    contacts = line(content, "CONTACTS").period  # 2 contacts rest on person-level records (issue 9 item 13)
    assert contacts is not None and contacts.suppressed and contacts.value is None


def test_the_workbook_and_a_partners_copy(
    session: Session, catalogue: Catalogue, store: Store, five_contacts: dict
) -> None:
    run(session, catalogue)
    content = draft_quarterly(session, catalogue, "2026Q1", threshold=0, now=AFTER_Q1)
    book = load_workbook(io.BytesIO(report_xlsx(content)))
    assert partner_sheet_title("P1") in book.sheetnames and partner_sheet_title("P2") in book.sheetnames
    itt = book[SHEET_ITT]
    rows = {(r[1], r[5]): r for r in itt.iter_rows(min_row=2, values_only=True)}
    assert rows[("PEOPLE", "Total")][10] == 2  # the quarter's actual
    assert rows[("CONTACTS", "Total")][14] == 3  # to date

    copy = report_xlsx(content.for_partner("P2"))
    partner_book = load_workbook(io.BytesIO(copy))
    assert partner_sheet_title("P1") not in partner_book.sheetnames
    assert SHEET_ITT not in partner_book.sheetnames and SHEET_RESTATEMENTS in partner_book.sheetnames
    sheet = partner_book[partner_sheet_title("P2")]
    contacts = [r for r in sheet.iter_rows(min_row=2, values_only=True) if r[1] == "CONTACTS" and r[5] == "Total"]
    assert contacts[0][10] == 2  # Omar's two Q1 contacts went through P2's grant G2
    texts = {str(c) for ws in partner_book for r in ws.iter_rows(values_only=True) for c in r if c is not None}
    assert not any("P1" in t for t in texts)


def test_a_figure_is_restated_when_any_of_its_numbers_moves() -> None:
    reported = Figure(value=50.0, numerator=5.0, denominator=10.0)
    assert reported.same_as(Figure(value=50.0 + 1e-12, numerator=5.0, denominator=10.0))
    assert not reported.same_as(Figure(value=50.0, numerator=5.0, denominator=12.0))
    assert not reported.same_as(Figure(suppressed=True))
    assert not reported.same_as(None)
    assert Figure(suppressed=True).same_as(Figure(suppressed=True))
