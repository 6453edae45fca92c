"""`sera report quarterly`: issue once, then the same edition every time; drafts; partner copies; clear refusals."""

from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func
from sqlmodel import Session, select
from typer.testing import CliRunner

from analysis.compute import compute
from analysis.demo import clear_demo, generate_demo
from analysis.report.tables import ReportIssue
from analysis.report.workbook import SHEET_ITT, partner_sheet_title
from analysis.tables import IndicatorValue
from catalogue.store import load_catalogue, stored_catalogue
from catalogue.validation import read_catalogue
from sera.cli import _demo_if_empty
from sera.cli import app as cli
from sera.settings import DEFAULT_CATALOGUE, Settings, get_settings
from sync.connections import ConnectionSpec, add_connection, demo_present
from sync.tables import Submission


@pytest.fixture
def sera(database_url: str, session: Session, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    load_catalogue(session, read_catalogue(Path(DEFAULT_CATALOGUE)), "prim2")
    session.commit()
    generate_demo(session, stored_catalogue(session), submissions=300, seed=3)
    session.commit()
    compute(session, stored_catalogue(session), full=True, person_key_secret="cli-secret")
    session.commit()
    monkeypatch.setenv("SERA_DATABASE_URL", database_url)

    def run(*args: str):  # type: ignore[no-untyped-def]
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(cli, ["report", "quarterly", *args])
        finally:
            get_settings.cache_clear()

    return run


def test_plain_run_drafts_and_issues_nothing(sera, session: Session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = sera("2026Q3", "--out", str(tmp_path / "q3.xlsx"))
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("2026Q3: draft written (not issued")
    assert session.exec(select(func.count()).select_from(ReportIssue)).one() == 0
    summary = load_workbook(tmp_path / "q3.xlsx")["Synthèse"]
    assert any("PROJET" in str(cell) for row in summary.values for cell in row if cell)
    same = sera("2026Q3", "--out", str(tmp_path / "again.xlsx"), "--draft")
    assert same.exit_code == 0 and same.stdout.startswith("2026Q3: draft written (not issued")
    assert session.exec(select(func.count()).select_from(ReportIssue)).one() == 0


def test_issue_then_the_same_edition(sera, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = sera("2026Q3", "--out", str(tmp_path / "q3.xlsx"), "--issue")
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("2026Q3: issued as edition 1; 0 restatement(s)")
    twice = sera("2026Q3", "--out", str(tmp_path / "twice.xlsx"), "--issue")
    assert twice.exit_code == 1 and "already has edition 1" in twice.output and "--reissue" in twice.output
    assert not (tmp_path / "twice.xlsx").exists()
    again = sera("2026Q3", "--out", str(tmp_path / "again.xlsx"), "--edition", "1")
    assert again.exit_code == 0 and "edition 1 issued on" in again.stdout
    rows = [list(load_workbook(tmp_path / name)[SHEET_ITT].values) for name in ("q3.xlsx", "again.xlsx")]
    assert rows[0] == rows[1]
    draft = sera("2026Q3", "--out", str(tmp_path / "draft.xlsx"))
    assert draft.exit_code == 0 and "edition 1 was issued" in draft.stdout and "--edition 1" in draft.stdout
    second = sera("2026Q3", "--out", str(tmp_path / "e2.xlsx"), "--issue", "--reissue")
    assert second.exit_code == 0 and second.stdout.startswith("2026Q3: issued as edition 2")
    copy = sera("2026Q3", "--out", str(tmp_path / "sm01.xlsx"), "--edition", "1", "--partner", "SM-01")
    assert copy.exit_code == 0
    assert partner_sheet_title("SM-01") in load_workbook(tmp_path / "sm01.xlsx").sheetnames
    assert SHEET_ITT not in load_workbook(tmp_path / "sm01.xlsx").sheetnames


def _cells(path: Path) -> list[list[object]]:
    return [list(row) for sheet in load_workbook(path).worksheets for row in sheet.values]


def test_a_partners_copy_of_an_issued_edition_stays_frozen(  # type: ignore[no-untyped-def]
    sera, session: Session, tmp_path: Path
) -> None:
    issued = sera("2026Q3", "--out", str(tmp_path / "issued.xlsx"), "--issue")
    assert issued.exit_code == 0, issued.output
    before = sera("2026Q3", "--out", str(tmp_path / "before.xlsx"), "--edition", "1", "--partner", "SM-01")
    assert before.exit_code == 0, before.output
    # The data changes after issuing: other submissions, values recomputed.
    clear_demo(session)
    generate_demo(session, stored_catalogue(session), submissions=300, seed=4)
    session.commit()
    compute(session, stored_catalogue(session), full=True, person_key_secret="cli-secret")
    session.commit()
    after = sera("2026Q3", "--out", str(tmp_path / "after.xlsx"), "--edition", "1", "--partner", "SM-01")
    assert after.exit_code == 0, after.output
    rebuilt = sera("2026Q3", "--out", str(tmp_path / "rebuilt.xlsx"), "--partner", "SM-01")
    assert rebuilt.exit_code == 0, rebuilt.output
    frozen = _cells(tmp_path / "before.xlsx")
    assert _cells(tmp_path / "after.xlsx") == frozen
    # A copy rebuilt from today's values differs beyond its draft mark: the check above would see a rebuild.
    assert [row for row in _cells(tmp_path / "rebuilt.xlsx") if "PROJET" not in str(row)] != [
        row for row in frozen if "PROJET" not in str(row)
    ]


def test_drafts_and_refusals(sera, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    future = sera("2028Q2", "--out", str(tmp_path / "x.xlsx"), "--issue")
    assert future.exit_code == 1 and "can be issued from the day after" in future.output and "draft" in future.output
    assert not (tmp_path / "x.xlsx").exists()
    draft = sera("2028Q2", "--out", str(tmp_path / "draft.xlsx"))
    assert draft.exit_code == 0 and draft.stdout.startswith("2028Q2: draft written (not issued")
    summary = load_workbook(tmp_path / "draft.xlsx")["Synthèse"]
    assert any("PROJET" in str(cell) for row in summary.values for cell in row if cell)
    missing = sera("2026Q3", "--out", str(tmp_path / "y.xlsx"), "--edition", "2")
    assert missing.exit_code == 1 and "no edition 2" in missing.output
    assert "cannot be combined" in sera("2026Q3", "--out", str(tmp_path / "z.xlsx"), "--draft", "--reissue").output
    both = sera("2026Q3", "--out", str(tmp_path / "w.xlsx"), "--issue", "--edition", "1")
    assert both.exit_code == 1 and "not both" in both.output
    unknown = sera("2026Q3", "--out", str(tmp_path / "p.xlsx"), "--draft", "--partner", "XX-99")
    assert unknown.exit_code == 1 and "no partner 'XX-99'" in unknown.output


def test_serve_fills_only_an_empty_store_with_the_demo(database_url: str, session: Session) -> None:
    load_catalogue(session, read_catalogue(Path(DEFAULT_CATALOGUE)), "prim2")
    session.commit()
    settings = Settings(database_url=database_url, person_key_secret="serve-secret")
    _demo_if_empty(settings)
    stored = session.exec(select(func.count()).select_from(Submission)).one()
    assert stored == 3000
    assert session.exec(select(func.count()).select_from(IndicatorValue)).one() > 1000
    _demo_if_empty(settings)
    assert session.exec(select(func.count()).select_from(Submission)).one() == stored


def test_serve_adds_no_demo_beside_a_real_connection(database_url: str, session: Session) -> None:
    load_catalogue(session, read_catalogue(Path(DEFAULT_CATALOGUE)), "prim2")
    add_connection(session, ConnectionSpec(name="terrain", platform="kobo", url="https://kf.example.org"))
    session.commit()
    _demo_if_empty(Settings(database_url=database_url, person_key_secret="serve-secret"))
    assert session.exec(select(func.count()).select_from(Submission)).one() == 0
    assert not demo_present(session)


def test_a_report_on_demo_data_says_so_on_its_cover(sera, session: Session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    def cover(name: str) -> str:
        assert sera("2026Q3", "--out", str(tmp_path / name)).exit_code == 0
        return " ".join(str(c) for row in load_workbook(tmp_path / name)["Synthèse"].values for c in row if c)

    assert "DÉMONSTRATION" in cover("demo.xlsx")
    clear_demo(session)
    session.commit()
    assert "DÉMONSTRATION" not in cover("real.xlsx")
