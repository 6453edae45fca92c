"""`sera forms deploy`: built forms pushed to Kobo, unchanged ones left alone, versions recorded, then synced."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner, Result

from catalogue.model import Catalogue, Revision
from sera.cli import app
from sera.settings import Settings, get_settings
from sync.connections import ConnectionProblem
from sync.deploy import deploy_forms
from sync.pull import PullOptions
from sync.service import sync_forms, targets
from sync.tables import RemoteForm, Submission
from tests.conftest import CASES
from tests.fakes.kobo import KoboFake
from tests.fakes.loopback import serve
from tests.fakes.odk_central import ROLES, CentralFake
from tests.worlds import ODK_EMAIL, central_connection, client_factory, kobo_connection
from xlsforms.build import build_forms

APP_USER_ROLE = next(role["id"] for role in ROLES if role["system"] == "app-user")


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
        requests_before = len(fake.requests)
        [again] = deploy_forms(engine, settings, "kobo", first_build, client_factory=factory)
        assert again.status == "unchanged"
        assert [seen.method for seen in fake.requests[requests_before:]] == ["GET"]  # the asset is read, not written

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


# -- the server is read, not only the local record (issue 9 item 10) ------------------------------------------------

CENTRAL_VERSIONS = ["2026.2", "2024.2"]


@contextmanager
def central_world(engine: Engine, version: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[CentralFake, int]]:
    """A served fake Central (of that version) with one project, and the database's `central` connection to it."""
    fake = CentralFake(version)
    fake.add_user(ODK_EMAIL, "pw-central")
    project = fake.add_project("PRIM 2")
    monkeypatch.setenv("SERA_TEST_ODK_PASSWORD", "pw-central")
    with serve(fake.app) as url:
        central_connection(engine, url, project)
        yield fake, project


def writes(requests: list[Any], since: int) -> list[str]:
    """`METHOD path` of every request after `since` that changes the server (a read or a log-in does not)."""
    return [f"{r.method} {r.path}" for r in requests[since:] if r.method != "GET" and "/sessions" not in r.path]


def forget_deployments(session: Session) -> None:
    """A fresh database, as far as deployments go: the local record of every form is gone."""
    for remote in session.exec(select(RemoteForm)).all():
        session.delete(remote)
    session.commit()


@pytest.mark.parametrize("version", CENTRAL_VERSIONS)
def test_an_app_user_is_granted_even_when_the_forms_are_unchanged(
    engine: Engine,
    session: Session,
    settings: Settings,
    minimal_catalogue: Catalogue,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    version: str,
) -> None:
    build = build_forms(minimal_catalogue, tmp_path / "v1")
    with central_world(engine, version, monkeypatch) as (fake, project):
        [first] = deploy_forms(engine, settings, "central", build, client_factory=client_factory([]))
        assert first.status == "deployed", first.detail
        [again] = deploy_forms(
            engine, settings, "central", build, app_user="Agents Oujda", client_factory=client_factory([])
        )
        assert again.status == "unchanged", again.detail
        [user] = [a for a in fake.actors.values() if a.type == "field_key"]
        assert user.display_name == "Agents Oujda"
        assert fake.form(project, "attendance").assignments == {(APP_USER_ROLE, user.id)}
        assert "Agents Oujda" in again.detail
    remote = session.exec(select(RemoteForm)).one()
    assert (remote.remote_state["app_user_id"], remote.deployed_version) == (user.id, first.version)


@pytest.mark.parametrize("version", CENTRAL_VERSIONS)
def test_a_form_deleted_on_central_is_deployed_again_and_said_so(
    engine: Engine,
    session: Session,
    settings: Settings,
    minimal_catalogue: Catalogue,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    version: str,
) -> None:
    build = build_forms(minimal_catalogue, tmp_path / "v1")
    with central_world(engine, version, monkeypatch) as (fake, project):
        deploy_forms(engine, settings, "central", build, client_factory=client_factory([]))
        fake.delete_form(project, "attendance")
        [again] = deploy_forms(engine, settings, "central", build, client_factory=client_factory([]))
        assert again.status == "deployed" and "missing on the server" in again.detail
        assert fake.form(project, "attendance").current.version == build.forms["attendance"].version  # type: ignore[union-attr]
        assert len(fake.trash) == 1


@pytest.mark.parametrize("version", CENTRAL_VERSIONS)
def test_a_fresh_database_adopts_the_version_central_already_publishes(
    engine: Engine,
    session: Session,
    settings: Settings,
    minimal_catalogue: Catalogue,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    version: str,
) -> None:
    build = build_forms(minimal_catalogue, tmp_path / "v1")
    with central_world(engine, version, monkeypatch) as (fake, _project):
        deploy_forms(engine, settings, "central", build, client_factory=client_factory([]))
        forget_deployments(session)
        mark = len(fake.requests)
        [adopted] = deploy_forms(engine, settings, "central", build, client_factory=client_factory([]))
        assert (adopted.status, adopted.remote_id) == ("adopted", "attendance"), adopted.detail
        assert writes(fake.requests, mark) == []
        remote = session.exec(select(RemoteForm)).one()
        assert remote.deployed_version == build.forms["attendance"].version
        assert remote.remote_state["manifest"]["version"] == remote.deployed_version
        [unchanged] = deploy_forms(engine, settings, "central", build, client_factory=client_factory([]))
        assert unchanged.status == "unchanged"


@pytest.mark.parametrize("version", CENTRAL_VERSIONS)
def test_a_fresh_database_deploying_a_replaced_version_is_refused_without_writing_a_draft(
    engine: Engine,
    session: Session,
    settings: Settings,
    minimal_catalogue: Catalogue,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    version: str,
) -> None:
    """It used to create a draft, get Central's 409.6 at publish, and leave the draft there, on every run."""
    first = build_forms(minimal_catalogue, tmp_path / "v1")
    second = build_forms(relabelled(minimal_catalogue), tmp_path / "v2")
    with central_world(engine, version, monkeypatch) as (fake, project):
        deploy_forms(engine, settings, "central", first, client_factory=client_factory([]))
        deploy_forms(engine, settings, "central", second, client_factory=client_factory([]))
        forget_deployments(session)
        mark = len(fake.requests)
        for _ in range(2):
            [refused] = deploy_forms(engine, settings, "central", first, client_factory=client_factory([]))
            assert refused.status == "failed" and "published on the server before" in refused.detail
        assert writes(fake.requests, mark) == []
        form = fake.form(project, "attendance")
        assert form.draft is None and form.current.version == second.forms["attendance"].version  # type: ignore[union-attr]
    assert session.exec(select(RemoteForm)).all() == []


@pytest.mark.parametrize("version", CENTRAL_VERSIONS)
def test_check_says_what_central_has_and_what_a_deploy_would_do_and_changes_nothing(
    engine: Engine,
    session: Session,
    settings: Settings,
    minimal_catalogue: Catalogue,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    version: str,
) -> None:
    first = build_forms(minimal_catalogue, tmp_path / "v1")
    second = build_forms(relabelled(minimal_catalogue), tmp_path / "v2")
    old, new = first.forms["attendance"].version, second.forms["attendance"].version
    with central_world(engine, version, monkeypatch) as (fake, _project):
        [never] = deploy_forms(engine, settings, "central", first, check=True, client_factory=client_factory([]))
        assert (never.status, never.server, never.remote_id) == ("to-deploy", "absent", None)
        deploy_forms(engine, settings, "central", first, client_factory=client_factory([]))
        before = session.exec(select(RemoteForm)).one().model_dump()
        mark = len(fake.requests)
        [same] = deploy_forms(engine, settings, "central", first, check=True, client_factory=client_factory([]))
        [newer] = deploy_forms(engine, settings, "central", second, check=True, client_factory=client_factory([]))
        forget_deployments(session)
        [lost] = deploy_forms(engine, settings, "central", first, check=True, client_factory=client_factory([]))
        assert (same.status, same.server) == ("unchanged", f"published {old}")
        assert (newer.status, newer.version, newer.server) == ("to-deploy", new, f"published {old}")
        assert lost.status == "to-adopt"
        assert writes(fake.requests, mark) == []
    assert session.exec(select(RemoteForm)).all() == [] and before["deployed_version"] == old


def test_a_kobo_asset_deleted_on_the_server_is_deployed_again_and_said_so(
    engine: Engine,
    session: Session,
    settings: Settings,
    minimal_catalogue: Catalogue,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = KoboFake()
    monkeypatch.setenv("SERA_TEST_KOBO_TOKEN", fake.token)
    build = build_forms(minimal_catalogue, tmp_path / "v1")
    factory = client_factory([])
    with serve(fake.app) as url:
        kobo_connection(engine, url)
        [first] = deploy_forms(engine, settings, "kobo", build, client_factory=factory)
        old_asset = first.remote_id
        assert old_asset is not None
        fake.add_submission(old_asset, {"consent": "yes", "details/activity_date": "2026-05-04"})
        sync_forms(engine, settings, targets(engine), options=PullOptions(full=True), client_factory=factory)
        fake.delete_asset(old_asset)
        [again] = deploy_forms(engine, settings, "kobo", build, client_factory=factory)
        assert again.status == "deployed" and "missing on the server" in again.detail
        assert again.remote_id not in (None, old_asset)
        assert fake.asset(again.remote_id).deployment is not None  # type: ignore[arg-type]
    remote = session.exec(select(RemoteForm)).one()
    assert (remote.remote_id, remote.deployed_version, remote.cursor) == (again.remote_id, first.version, {})


def test_kobo_check_writes_nothing_force_redeploys_and_app_users_are_refused(
    engine: Engine,
    session: Session,
    settings: Settings,
    minimal_catalogue: Catalogue,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = KoboFake()
    monkeypatch.setenv("SERA_TEST_KOBO_TOKEN", fake.token)
    build = build_forms(minimal_catalogue, tmp_path / "v1")
    factory = client_factory([])
    with serve(fake.app) as url:
        kobo_connection(engine, url)
        [never] = deploy_forms(engine, settings, "kobo", build, check=True, client_factory=factory)
        assert (never.status, never.server, fake.assets) == ("to-deploy", "no asset", {})
        [first] = deploy_forms(engine, settings, "kobo", build, client_factory=factory)
        asset = first.remote_id
        assert asset is not None
        deployed_version = fake.asset(asset).deployment.version_id  # type: ignore[union-attr]

        mark = len(fake.requests)
        [checked] = deploy_forms(engine, settings, "kobo", build, check=True, client_factory=factory)
        assert checked.status == "unchanged"
        assert checked.server == f"asset {asset}, deployed version {deployed_version} (= {first.version})"
        assert writes(fake.requests, mark) == []
        [forced] = deploy_forms(engine, settings, "kobo", build, force=True, client_factory=factory)
        assert (forced.status, forced.remote_id, forced.detail) == ("deployed", asset, "forced")
        assert fake.asset(asset).deployment.version_id != deployed_version  # type: ignore[union-attr]
        assert [w for w in writes(fake.requests, mark) if "deployment" in w] == [
            f"PATCH /api/v2/assets/{asset}/deployment/"
        ]
        fake.delete_asset(asset)
        mark = len(fake.requests)
        [gone] = deploy_forms(engine, settings, "kobo", build, check=True, client_factory=factory)
        assert gone.status == "to-deploy" and "not found" in gone.server and "missing" in gone.detail
        assert writes(fake.requests, mark) == []
        with pytest.raises(ConnectionProblem, match="--app-user is for ODK Central"):
            deploy_forms(engine, settings, "kobo", build, app_user="Agents", client_factory=factory)
    assert session.exec(select(RemoteForm)).one().remote_id == asset


def test_the_deploy_command_checks_forces_and_grants_with_its_options(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sera forms deploy --connection NAME` as before, and `--check`, `--force`, `--app-user` on unchanged forms."""
    monkeypatch.setenv("SERA_DATABASE_URL", database_url)

    def sera(*args: str) -> Result:
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(app, list(args), env={"SERA_ODK_PASSWORD": "pw-central"})
        finally:
            get_settings.cache_clear()

    fake = CentralFake()
    fake.add_user(ODK_EMAIL, "pw-central")
    project = fake.add_project("PRIM 2")
    assert sera("catalogue", "load", str(CASES / "minimal.yaml")).exit_code == 0
    with serve(fake.app) as url:
        added = sera(
            "connections", "add", "odk", "central", "--url", url, "--project", str(project), "--email", ODK_EMAIL
        )
        assert added.exit_code == 0, added.output
        deployed = sera("forms", "deploy", "--connection", "central")
        assert deployed.exit_code == 0, deployed.output
        version = fake.form(project, "attendance").current.version  # type: ignore[union-attr]
        assert deployed.stdout.splitlines() == [f"attendance\tdeployed\t{version}\tattendance"]

        checked = sera("forms", "deploy", "--connection", "central", "--check")
        assert checked.stdout.splitlines() == [
            f"attendance\tunchanged\t{version}\tattendance\tserver: published {version}"
        ]
        granted = sera("forms", "deploy", "--connection", "central", "attendance", "--app-user", "Agents Oujda")
        assert granted.exit_code == 0, granted.output
        assert granted.stdout.startswith(f"attendance\tunchanged\t{version}\tattendance\tapp user 'Agents Oujda' (#")
        forced = sera("forms", "deploy", "--connection", "central", "--force")
        assert forced.exit_code == 0 and "Central publishes a version once" in forced.stdout
        both = sera("forms", "deploy", "--connection", "central", "--check", "--force")
        assert both.exit_code == 1 and "choose one" in both.stderr
        fake.delete_form(project, "attendance")
        again = sera("forms", "deploy", "--connection", "central")
        assert again.exit_code == 0 and "\tdeployed\t" in again.stdout and "missing on the server" in again.stdout
