"""`sera forms deploy`: built forms pushed to Kobo, unchanged ones left alone, versions recorded, then synced."""

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from catalogue.model import Catalogue, Revision
from sera.settings import Settings
from sync.deploy import deploy_forms
from sync.pull import PullOptions
from sync.service import sync_forms, targets
from sync.tables import RemoteForm, Submission
from tests.fakes.kobo import KoboFake
from tests.fakes.loopback import serve
from tests.fakes.odk_central import CentralFake
from tests.worlds import ODK_EMAIL, central_connection, client_factory, kobo_connection
from xlsforms.build import build_forms


def relabelled(catalogue: Catalogue) -> Catalogue:
    form = catalogue.forms[0]
    first = form.questions[0]
    changed = form.model_copy(
        update={
            "questions": [
                first.model_copy(update={"label": first.label.model_copy(update={"fr": "Accord"})}),
                *form.questions[1:],
            ]
        }
    )
    revision = Revision(date="2026-06-01", reason="error_correction", rationale="Libellé clarifié.")
    return catalogue.model_copy(update={"forms": [changed], "revision": revision})


def test_deploy_is_idempotent_and_a_new_version_is_redeployed_then_both_versions_sync(
    engine: Engine,
    session: Session,
    settings: Settings,
    minimal_catalogue: Catalogue,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = KoboFake()
    monkeypatch.setenv("SERA_TEST_KOBO_TOKEN", fake.token)

    factory = client_factory([])

    with serve(fake.app) as url:
        kobo_connection(engine, url)
        first_build = build_forms(minimal_catalogue, tmp_path / "v1")
        [outcome] = deploy_forms(engine, settings, "kobo", first_build, client_factory=factory)
        assert outcome.status == "deployed", outcome.detail
        asset = outcome.remote_id
        assert asset is not None and fake.asset(asset).deployment is not None
        requests_before = fake.request_count
        [again] = deploy_forms(engine, settings, "kobo", first_build, client_factory=factory)
        assert (again.status, fake.request_count) == ("unchanged", requests_before)

        fake.add_submission(asset, {"consent": "yes", "details/activity_date": "2026-05-04", "details/sex": "female"})
        second_build = build_forms(relabelled(minimal_catalogue), tmp_path / "v2")
        [redeployed] = deploy_forms(engine, settings, "kobo", second_build, client_factory=factory)
        assert (redeployed.status, redeployed.remote_id) == ("deployed", asset)
        assert redeployed.version != outcome.version
        fake.add_submission(asset, {"consent": "yes", "details/activity_date": "2026-06-04", "details/sex": "male"})

        [run] = sync_forms(engine, settings, targets(engine), options=PullOptions(full=True), client_factory=factory)
        assert run.status == "success", run.error

    remote = session.exec(select(RemoteForm)).one()
    assert remote.deployed_version == redeployed.version
    versions = remote.remote_state["versions"]
    assert sorted(versions.values()) == sorted([outcome.version, redeployed.version])
    stored = session.exec(select(Submission).order_by(Submission.remote_seq)).all()
    assert [versions[s.form_version] for s in stored] == [outcome.version, redeployed.version]


def test_deploy_to_odk_central_publishes_with_our_version_and_an_app_user(
    engine: Engine,
    session: Session,
    settings: Settings,
    minimal_catalogue: Catalogue,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = CentralFake()
    fake.add_user(ODK_EMAIL, "pw-central")
    project = fake.add_project("PRIM 2")
    monkeypatch.setenv("SERA_TEST_ODK_PASSWORD", "pw-central")

    factory = client_factory([])

    with serve(fake.app) as url:
        central_connection(engine, url, project)
        build = build_forms(minimal_catalogue, tmp_path / "v1")
        [outcome] = deploy_forms(engine, settings, "central", build, app_user="Agents Oujda", client_factory=factory)
        assert (outcome.status, outcome.remote_id) == ("deployed", "attendance"), outcome.detail
        form = fake.form(project, "attendance")
        assert form.current is not None and form.current.version == outcome.version
        [again] = deploy_forms(engine, settings, "central", build, client_factory=factory)
        assert again.status == "unchanged"
        second = build_forms(relabelled(minimal_catalogue), tmp_path / "v2")
        [redeployed] = deploy_forms(engine, settings, "central", second, client_factory=factory)
        assert redeployed.status == "deployed", redeployed.detail
        assert fake.form(project, "attendance").current.version == redeployed.version  # type: ignore[union-attr]
    remote = session.exec(select(RemoteForm)).one()
    assert (remote.remote_id, remote.deployed_version) == ("attendance", redeployed.version)
    assert remote.remote_state["app_user_id"] > 0
    assert remote.remote_state["manifest"]["version"] == redeployed.version
