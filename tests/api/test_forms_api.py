"""Forms over HTTP and from the CLI: built from the loaded catalogue, versioned, diffed against the last build."""

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlmodel import Session
from typer.testing import CliRunner

from api.app import create_app
from catalogue.model import Catalogue, Revision
from catalogue.store import load_catalogue
from sera.cli import app as cli
from sera.settings import Settings, get_settings


@pytest.fixture
def loaded(session: Session, minimal_catalogue: Catalogue) -> Catalogue:
    load_catalogue(session, minimal_catalogue, source="test")
    session.commit()
    return minimal_catalogue


@pytest.fixture
def client(settings: Settings, loaded: Catalogue) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def test_forms_list_and_detail(client: TestClient) -> None:
    body = client.get("/api/v1/forms").json()
    assert body["total"] == 1
    form = body["items"][0]
    assert (form["form_id"], form["audience"], form["indicators"]) == ("attendance", "field_staff", ["IND1", "IND2"])
    assert form["version"].startswith("20260316-")
    detail = client.get("/api/v1/forms/attendance").json()
    assert detail["version"] == form["version"]
    assert detail["spec"]["person_identifiers"] == ["full_name", "birth_year"]


def test_form_files(client: TestClient) -> None:
    xml = client.get("/api/v1/forms/attendance.xml")
    assert xml.status_code == 200 and xml.headers["content-type"].startswith("application/xml")
    assert 'id="attendance"' in xml.text
    xlsx = client.get("/api/v1/forms/attendance.xlsx")
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["survey", "choices", "settings"]
    assert client.get("/api/v1/forms/attendance/media/nope.csv").json() == {
        "error": "not_found",
        "detail": "form 'attendance' has no media file 'nope.csv'",
    }
    assert client.get("/api/v1/forms/nope.xml").status_code == 404


def test_cli_build_then_diff_after_a_label_change(
    database_url: str, session: Session, loaded: Catalogue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERA_DATABASE_URL", database_url)
    get_settings.cache_clear()
    runner = CliRunner()
    built = runner.invoke(cli, ["forms", "build", "--out", str(tmp_path / "v1")])
    assert built.exit_code == 0, built.output
    first_version = built.stdout.split("\t")[1]
    assert sorted(p.name for p in (tmp_path / "v1").iterdir()) == [
        "attendance.xlsx",
        "attendance.xml",
        "manifest.json",
    ]
    form = loaded.forms[0]
    relabelled = form.model_copy(
        update={
            "questions": [
                form.questions[0].model_copy(
                    update={"label": form.questions[0].label.model_copy(update={"fr": "Accord"})}
                ),
                *form.questions[1:],
            ]
        }
    )
    revision = Revision(date="2026-05-02", reason="error_correction", rationale="Libellé du consentement clarifié.")
    load_catalogue(session, loaded.model_copy(update={"forms": [relabelled], "revision": revision}), source="test")
    session.commit()
    diff = runner.invoke(cli, ["forms", "diff", "--against", str(tmp_path / "v1")])
    get_settings.cache_clear()
    assert diff.exit_code == 0, diff.output
    lines = diff.stdout.splitlines()
    assert lines[0].startswith(f"form attendance: {first_version} → 20260502-")
    assert lines[1] == "  texts or settings changed; no question added, removed, renamed, moved or retyped"
