"""The quarterly report over HTTP from the demo data: draft, issue, frozen figures, restatements, partner copy."""

import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from openpyxl.workbook.workbook import Workbook
from sqlmodel import Session, col, select

from analysis.compute import compute
from analysis.report.workbook import (
    SHEET_CHARTS,
    SHEET_ITT,
    SHEET_QUALITY,
    SHEET_RESTATEMENTS,
    SHEET_SUMMARY,
    partner_sheet_title,
)
from analysis.tables import Fact
from catalogue.store import stored_catalogue
from sync.store import tombstone
from sync.tables import Submission
from tests.api.conftest import PARTNER

Api = tuple[TestClient, dict[str, dict[str, str]]]
PERIOD = "2026Q3"
URL = f"/api/v1/reports/quarterly/{PERIOD}.xlsx"
LATER = "2027Q2"
"""A quarter well into the demo data (not over yet: drafts only)."""


def workbook(client: TestClient, headers: dict[str, str], url: str = URL, **params: Any) -> tuple[Workbook, Any]:
    response = client.get(url, headers=headers, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    return load_workbook(io.BytesIO(response.content)), response.headers


def itt_totals(book: Workbook, sheet: str = SHEET_ITT) -> dict[str, tuple[Any, ...]]:
    return {r[1]: r for r in book[sheet].iter_rows(min_row=2, values_only=True) if r[5] == "Total"}


def test_a_draft_matches_the_tracking_table(api: Api) -> None:
    client, headers = api
    book, response_headers = workbook(client, headers["staff"], url=f"/api/v1/reports/quarterly/{LATER}.xlsx")
    assert response_headers["x-sera-report-status"] == "draft"
    catalogue_codes = [i["code"] for i in client.get("/api/v1/indicators", headers=headers["staff"]).json()["items"]]
    totals = itt_totals(book)
    assert sorted(totals) == sorted(catalogue_codes)
    itt = client.get("/api/v1/itt", params={"period": LATER}, headers=headers["staff"]).json()["items"]
    shown = 0
    for line in itt:
        if line["split"]:
            continue
        exact = line["period"]["value"] if line["period"] else None
        cell = totals[line["indicator"]][10]
        if isinstance(cell, str):  # suppressed for the report's readers
            assert cell == "masqué"
        else:
            assert cell == pytest.approx(exact) if exact is not None else cell is None
            shown += cell is not None
    assert shown >= 10
    assert book[SHEET_CHARTS]._charts, "the report has charts"
    assert all(partner_sheet_title(p) in book.sheetnames for p in ("SM-01", "ORI-01"))
    assert {SHEET_SUMMARY, SHEET_QUALITY, SHEET_RESTATEMENTS} <= set(book.sheetnames)


def test_an_issued_report_is_frozen_and_changes_are_restated(api: Api, session: Session) -> None:
    client, headers = api
    assert client.post(f"/api/v1/reports/quarterly/{PERIOD}/issues", headers=headers["staff"]).status_code == 403
    issued = client.post(f"/api/v1/reports/quarterly/{PERIOD}/issues", headers=headers["admin"])
    assert issued.status_code == 201, issued.text
    assert issued.json()["number"] == 1
    before, response_headers = workbook(client, headers["staff"])
    assert response_headers["x-sera-report-status"] == "issued" and response_headers["x-sera-report-issue"] == "1"

    # Every attendance sheet of the quarter turns out to be a duplicate and is deleted on the server.
    catalogue = stored_catalogue(session)
    rows = session.exec(
        select(Submission.remote_form_id, Submission.root_id)
        .join(Fact, col(Fact.submission_id) == col(Submission.id))
        .where(Fact.form_id == "attendance", Fact.period == PERIOD, Fact.row_index == 0)
    ).all()
    assert rows
    tombstone(session, rows[0][0], [root for _form, root in rows], run_id=None)
    session.commit()
    compute(session, catalogue, person_key_secret="test-secret")
    session.commit()

    again, _ = workbook(client, headers["staff"])
    assert itt_totals(again) == itt_totals(before)
    today, _ = workbook(client, headers["staff"], draft="true")
    assert itt_totals(today)["R1.3-2"][10] != itt_totals(before)["R1.3-2"][10]
    assert len(list(today[SHEET_RESTATEMENTS].iter_rows(min_row=2))) > 1

    second = client.post(f"/api/v1/reports/quarterly/{PERIOD}/issues", headers=headers["admin"]).json()
    assert second["number"] == 2 and second["restatements"] > 0
    first_again, _ = workbook(client, headers["staff"], issue="1")
    assert itt_totals(first_again) == itt_totals(before)
    listed = client.get("/api/v1/reports/quarterly", headers=headers["staff"]).json()
    assert [(i["period"], i["number"]) for i in listed["items"]] == [(PERIOD, 1), (PERIOD, 2)]


def test_a_partner_gets_its_own_copy_and_a_viewer_none(api: Api) -> None:
    client, headers = api
    book, _ = workbook(client, headers["partner"])
    assert partner_sheet_title(PARTNER) in book.sheetnames
    assert SHEET_ITT not in book.sheetnames and SHEET_CHARTS not in book.sheetnames
    assert not [name for name in book.sheetnames if name.startswith("Partenaire") and PARTNER not in name]
    texts = {str(c) for ws in book for row in ws.iter_rows(values_only=True) for c in row if c is not None}
    others = {"SM-02", "SM-03", "ORI-01", "ORI-02", "ORI-03", "DIA-01", "DIA-02", "DIA-03"}
    assert not [t for t in texts if any(code in t for code in others)]
    assert client.get(URL, headers=headers["viewer"]).status_code == 403


def test_report_requests_that_cannot_be_answered(api: Api) -> None:
    client, headers = api
    future = client.post("/api/v1/reports/quarterly/2028Q3/issues", headers=headers["admin"])
    assert future.status_code == 409 and future.json()["error"] == "report_not_ready"
    assert client.get("/api/v1/reports/quarterly/2031Q1.xlsx", headers=headers["staff"]).status_code == 404
    assert client.get("/api/v1/reports/quarterly/2026-09.xlsx", headers=headers["staff"]).status_code == 422
    missing = client.get(URL, params={"issue": "3"}, headers=headers["staff"])
    assert missing.status_code == 404


def _all_cells(book: Workbook) -> list[tuple[Any, ...]]:
    return [row for ws in book for row in ws.iter_rows(values_only=True)]


def test_reading_drafts_issues_nothing_and_a_partner_copy_of_an_edition_stays_frozen(
    api: Api, session: Session
) -> None:
    client, headers = api
    _draft, response_headers = workbook(client, headers["admin"])
    assert response_headers["x-sera-report-status"] == "draft"
    assert client.get("/api/v1/reports/quarterly", headers=headers["admin"]).json()["total"] == 0
    assert client.post(f"/api/v1/reports/quarterly/{PERIOD}/issues", headers=headers["admin"]).status_code == 201
    frozen, response_headers = workbook(client, headers["partner"])
    assert response_headers["x-sera-report-status"] == "issued"

    # The partner's attendance sheets of the quarter are deleted on the server after issuing.
    rows = session.exec(
        select(Submission.remote_form_id, Submission.root_id)
        .join(Fact, col(Fact.submission_id) == col(Submission.id))
        .where(Fact.form_id == "attendance", Fact.period == PERIOD, Fact.row_index == 0)
    ).all()
    tombstone(session, rows[0][0], [root for _form, root in rows], run_id=None)
    session.commit()
    compute(session, stored_catalogue(session), person_key_secret="test-secret")
    session.commit()

    again, _ = workbook(client, headers["partner"])
    assert _all_cells(again) == _all_cells(frozen)
    first, _ = workbook(client, headers["partner"], issue="1")
    assert _all_cells(first) == _all_cells(frozen)
    rebuilt, _ = workbook(client, headers["partner"], draft="true")
    assert _all_cells(rebuilt) != _all_cells(frozen), "a copy rebuilt from today's values would differ"
