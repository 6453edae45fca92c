"""The `sera` commands a SERA officer types, end to end on a real database."""

from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from catalogue.validation import read_catalogue
from sera.cli import app
from sera.settings import DEFAULT_CATALOGUE, get_settings

runner = CliRunner()


@pytest.fixture
def sera(database_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run `sera …` against the test database; returns the result."""
    monkeypatch.setenv("SERA_DATABASE_URL", database_url)

    def run(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        get_settings.cache_clear()
        result = runner.invoke(app, list(args), env=env)
        get_settings.cache_clear()
        return result

    return run


def test_prim2_load_export_load_round_trips(sera, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    loaded = sera("catalogue", "load")
    assert loaded.exit_code == 0, loaded.output
    assert "indicator R1.3-1 v1 (new)" in loaded.stdout
    assert sera("catalogue", "load").stderr.strip() == "catalogue unchanged"
    exported = tmp_path / "prim2.yaml"
    assert sera("catalogue", "export", "--format", "yaml", "--out", str(exported)).exit_code == 0
    assert read_catalogue(exported) == read_catalogue(DEFAULT_CATALOGUE)
    again = sera("catalogue", "load", str(exported))
    assert (again.exit_code, again.stderr.strip()) == (0, "catalogue unchanged")
    workbook = tmp_path / "prim2.xlsx"
    assert sera("catalogue", "export", "--format", "xlsx", "--out", str(workbook)).exit_code == 0
    assert load_workbook(workbook).sheetnames == ["Cadre logique", "Indicateurs", "Cibles", "Dimensions", "Révision"]
    bad = sera("catalogue", "export", "--format", "pdf", "--out", str(tmp_path / "x.pdf"))
    assert (bad.exit_code, bad.stderr.strip()) == (2, "unknown format 'pdf': use yaml or xlsx")


def test_export_before_any_load_says_what_to_do(sera, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = sera("catalogue", "export", "--format", "yaml", "--out", str(tmp_path / "x.yaml"))
    assert (result.exit_code, result.stderr.strip()) == (1, "no catalogue is loaded: run `sera catalogue load` first")


def test_connections_keep_secrets_out_of_the_database_and_the_output(sera) -> None:  # type: ignore[no-untyped-def]
    added = sera(
        "connections",
        "add",
        "kobo",
        "kobo-eu",
        "--url",
        "https://eu.kobotoolbox.org/",
        env={"SERA_KOBO_TOKEN": "0123456789abcdef"},
    )
    assert added.exit_code == 0, added.output
    odk = sera(
        "connections",
        "add",
        "odk",
        "central",
        "--url",
        "https://central.example.org",
        "--project",
        "3",
        "--email",
        "sera@example.org",
        "--password-env",
        "CENTRAL_PW",
        env={"CENTRAL_PW": "s3cret"},
    )
    assert odk.exit_code == 0, odk.output
    listed = sera("connections", "list").stdout
    assert "0123456789abcdef" not in listed and "s3cret" not in listed
    assert listed.splitlines() == [
        "central\todk\thttps://central.example.org project=3 email=sera@example.org\tsecret=$CENTRAL_PW",
        "kobo-eu\tkobo\thttps://eu.kobotoolbox.org\tsecret=$SERA_KOBO_TOKEN",
    ]
    duplicate = sera("connections", "add", "kobo", "kobo-eu", "--url", "https://x")
    assert duplicate.exit_code == 1
    assert duplicate.stderr.splitlines()[-1] == "a connection named 'kobo-eu' exists already"
    incomplete = sera("connections", "add", "odk", "c2", "--url", "https://x")
    assert incomplete.stderr.splitlines()[-1] == "an ODK Central connection needs --project and --email"


def test_sync_without_forms_and_deploy_to_an_unknown_connection(sera) -> None:  # type: ignore[no-untyped-def]
    assert sera("catalogue", "load").exit_code == 0
    nothing = sera("sync")
    assert nothing.exit_code == 1
    assert "nothing to sync" in nothing.stderr
    unknown = sera("forms", "deploy", "--connection", "nope")
    assert unknown.exit_code == 1
    assert unknown.stderr.strip() == "no connection named 'nope' (known: none); add one with `sera connections add`"


def test_plain_sync_covers_every_form_of_a_connection(sera) -> None:  # type: ignore[no-untyped-def]
    """Two forms on one connection: `sera sync` with no option runs both (it crashed detaching the connection)."""
    assert sera("catalogue", "load").exit_code == 0
    added = sera(
        "connections",
        "add",
        "odk",
        "central",
        "--url",
        "http://127.0.0.1:9",
        "--project",
        "1",
        "--email",
        "sera@example.org",
        env={"SERA_ODK_PASSWORD": "pw"},
    )
    assert added.exit_code == 0, added.output
    for form_id in ("attendance", "training_test"):
        assert sera("forms", "link", form_id, form_id, "--connection", "central").exit_code == 0
    synced = sera("sync")
    assert synced.exception is None or isinstance(synced.exception, SystemExit), synced.exception
    assert synced.exit_code == 1
    lines = [line for line in synced.stdout.splitlines() if line.startswith("central/")]
    assert [line.split(":")[0] for line in lines] == ["central/attendance", "central/training_test"]
    assert all(": failed run=" in line for line in lines)
