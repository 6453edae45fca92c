"""`sera indicators compute`, and the person-key secret generated when none is configured."""

import logging
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from analysis.compute import compute
from analysis.identity import resolve_secret
from analysis.tables import PersonKeySecret
from catalogue.model import Catalogue
from catalogue.store import load_catalogue
from catalogue.validation import read_catalogue
from sera.cli import app as cli
from sera.settings import DEFAULT_CATALOGUE, get_settings
from tests.analysis.builders import Store


def test_cli_computes_full_then_incremental(
    database_url: str, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    prim2 = read_catalogue(Path(DEFAULT_CATALOGUE))
    load_catalogue(session, prim2, "prim2")
    session.commit()
    store = Store(session, prim2)
    store.put("feedback", {"date_received": "2026-12-01", "feedback_type": "complaint", "region": "02"})
    monkeypatch.setenv("SERA_DATABASE_URL", database_url)
    monkeypatch.setenv("SERA_PERSON_KEY_SECRET", "cli-secret")
    get_settings.cache_clear()
    try:
        first = CliRunner().invoke(cli, ["indicators", "compute"])
        again = CliRunner().invoke(cli, ["indicators", "compute", "--full"])
    finally:
        get_settings.cache_clear()
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("full: ") and "cells changed" in first.stdout and " s\n" in first.stdout
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith("full: 0 cells changed")


def test_cli_without_a_catalogue_says_what_to_do(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERA_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["indicators", "compute"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "sera catalogue load" in result.output


def test_a_missing_secret_is_generated_once_kept_and_warned_about(
    session: Session, catalogue: Catalogue, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="sera.analysis"):
        first = resolve_secret(session, "")
        second = resolve_secret(session, "")
    assert first == second and len(first) == 64
    assert len(session.exec(select(PersonKeySecret)).all()) == 1
    assert "SERA_PERSON_KEY_SECRET" in caplog.text
    assert resolve_secret(session, "configured") == b"configured"
    report = compute(session, catalogue, person_key_secret="")
    assert report.mode == "full"
