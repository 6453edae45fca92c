"""Deploying built forms to a connection: what the server holds is read first, ids and versions recorded.

The local record (`remote_form`) keeps the server's ids, the version deployed and its build manifest, so
`sera forms diff --connection` can say what the phones have. It is not trusted alone: every deploy reads each
form on the server (one to three GETs), so a form deleted there is deployed again, a version the server already
serves is adopted (recorded, nothing published) and an App User is granted even when nothing else changed.
`check` stops after the read and reports; `force` redeploys what both the record and the server call current
(Kobo only: Central publishes a version string once per form).
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from catalogue.model import Catalogue
from catalogue.tables import utcnow
from sera.db import session_scope
from sera.settings import Settings
from sync.connections import ConnectionProblem, get_connection, resolve_secret
from sync.http import RemoteError
from sync.kobo.deploy import deploy_form as kobo_deploy
from sync.kobo.deploy import inspect_asset
from sync.odk.deploy import DeployError, inspect_form
from sync.odk.deploy import deploy_form as odk_deploy
from sync.service import ClientFactory, default_client
from sync.tables import Connection, RemoteForm
from xlsforms.build import BuildResult, BuiltForm
from xlsforms.manifest import Manifest, ManifestForm
from xlsforms.xlsx import xlsx_bytes

STATUSES = ("deployed", "adopted", "unchanged", "failed")
CHECK_STATUSES = ("to-deploy", "to-adopt", "unchanged", "conflict", "failed")


@dataclass(frozen=True)
class DeployOutcome:
    form_id: str
    status: str
    """One of STATUSES; with `check`, one of CHECK_STATUSES (what a deploy would do)."""
    version: str
    remote_id: str | None
    detail: str = ""
    server: str = ""
    """What the server held before this run, in words (empty when it could not be read)."""


@dataclass(frozen=True)
class _Record:
    remote_id: str
    version: str | None
    state: dict[str, Any]


def deployed_manifest(session: Session, connection_name: str, catalogue: Catalogue) -> Manifest:
    """The manifest of what is deployed on a connection (forms never deployed there are absent)."""
    connection = get_connection(session, connection_name)
    forms = {}
    for remote in session.exec(select(RemoteForm).where(RemoteForm.connection_id == connection.id)):
        stored = remote.remote_state.get("manifest")
        if stored:
            forms[remote.form_id] = ManifestForm.model_validate(stored)
    return Manifest(catalogue_revision=catalogue.revision.date, forms=dict(sorted(forms.items())))


def deploy_forms(
    engine: Engine,
    settings: Settings,
    connection_name: str,
    result: BuildResult,
    *,
    app_user: str | None = None,
    check: bool = False,
    force: bool = False,
    client_factory: ClientFactory = default_client,
) -> list[DeployOutcome]:
    """Bring each built form on the connection to its built version, in build order, after reading the server.

    :param app_user: ODK Central App User to get or create and grant every form to, changed or not.
    :param check: read and report only; nothing is written on the server or in the database.
    :param force: redeploy even when the record and the server both say the form is current.
    """
    with session_scope(engine) as session:
        connection = get_connection(session, connection_name)
        session.expunge(connection)
        records = {
            r.form_id: _Record(r.remote_id, r.deployed_version, dict(r.remote_state))
            for r in session.exec(select(RemoteForm).where(RemoteForm.connection_id == connection.id))
        }
    if app_user and connection.platform != "odk":
        raise ConnectionProblem(
            f"--app-user is for ODK Central; {connection_name} is a {connection.platform} connection"
        )
    client = client_factory(connection, resolve_secret(connection, settings.secret_key.get_secret_value()))
    try:
        return [
            _deploy_one(engine, connection, client, built, records.get(built.form_id), app_user, check, force)
            for built in result.forms.values()
        ]
    finally:
        client.close()


def _deploy_one(
    engine: Engine,
    connection: Connection,
    client: Any,
    built: BuiltForm,
    record: _Record | None,
    app_user: str | None,
    check: bool,
    force: bool,
) -> DeployOutcome:
    remote_id = record.remote_id if record else None
    try:
        if connection.platform == "kobo":
            return _deploy_kobo(engine, connection, client, built, record, check, force)
        return _deploy_odk(engine, connection, client, built, record, app_user, check, force)
    except (RemoteError, DeployError) as failure:
        return DeployOutcome(built.form_id, "failed", built.version, remote_id, str(failure))


def _deploy_kobo(
    engine: Engine,
    connection: Connection,
    client: Any,
    built: BuiltForm,
    record: _Record | None,
    check: bool,
    force: bool,
) -> DeployOutcome:
    """KPI makes its own version ids; the record maps them to ours, so only a version we deployed is recognised."""
    recorded = record.version if record else None
    asset = inspect_asset(client, record.remote_id if record else None)
    state = dict(record.state) if record else {}
    versions = dict(state.get("versions", {}))
    serving = versions.get(asset.deployed_version_id) if asset.active else None
    server = asset.describe() + (f" (= {serving})" if serving else "")
    if serving == built.version and not force:
        status = "unchanged" if recorded == built.version else ("to-adopt" if check else "adopted")
        if status == "adopted":
            assert asset.uid is not None
            _record(engine, connection, built, asset.uid, state)
        return DeployOutcome(built.form_id, status, built.version, asset.uid, "", server)
    detail = _why(recorded, built.version, missing=asset.uid is not None and not asset.exists, forced=force)
    if check:
        return DeployOutcome(built.form_id, "to-deploy", built.version, asset.uid, detail, server)
    kobo = kobo_deploy(
        client,
        asset_uid=asset.uid if asset.exists else None,
        name=f"{built.manifest.title.fr} ({built.form_id})",
        xlsx=xlsx_bytes(built.sheets),
        media=built.media,
    )
    versions[kobo.deployed_version_id] = built.version
    state.update(version_id=kobo.version_id, deployed_version_id=kobo.deployed_version_id, versions=versions)
    _record(engine, connection, built, kobo.asset_uid, state)
    return DeployOutcome(built.form_id, "deployed", built.version, kobo.asset_uid, detail, server)


def _deploy_odk(
    engine: Engine,
    connection: Connection,
    client: Any,
    built: BuiltForm,
    record: _Record | None,
    app_user: str | None,
    check: bool,
    force: bool,
) -> DeployOutcome:
    """Central keeps our version strings, so a version published by anyone (or by a lost database) is recognised."""
    assert connection.project_id is not None
    recorded = record.version if record else None
    found = inspect_form(client, connection.project_id, built.form_id)
    server = found.describe()
    refusal = found.refusal(built.version)
    current = found.current == built.version
    detail = "" if current else _why(recorded, built.version, missing=recorded is not None and not found.exists)
    if check:
        if refusal is not None:
            return DeployOutcome(built.form_id, "conflict", built.version, built.form_id, refusal, server)
        status = ("unchanged" if recorded == built.version else "to-adopt") if current else "to-deploy"
        if found.draft is not None and found.draft != built.version:
            detail = "; ".join(filter(None, [detail, f"the draft {found.draft!r} on the server will be replaced"]))
        remote_id = built.form_id if found.exists else None
        return DeployOutcome(built.form_id, status, built.version, remote_id, detail, server)
    odk = odk_deploy(
        client,
        project_id=connection.project_id,
        form_id=built.form_id,
        xform_xml=built.xform.encode("utf-8"),
        version=built.version,
        media=built.media,
        app_user=app_user,
        server=found,
    )
    state = dict(record.state) if record else {}
    notes = [detail] if detail else []
    if force and not odk.published:
        notes.append("not redeployed: Central publishes a version once, and it already serves this one")
    if odk.draft_deleted:
        notes.append(f"deleted a stray draft of {built.version} on the server")
    if odk.app_user_id is not None:
        notes.append(f"app user {app_user!r} (#{odk.app_user_id}) can fill it")
        state["app_user_id"] = odk.app_user_id
    status = "deployed" if odk.published else "unchanged" if recorded == built.version else "adopted"
    if status != "unchanged" or state != (record.state if record else {}):
        _record(engine, connection, built, odk.form_id, state, deployed=status != "unchanged")
    return DeployOutcome(built.form_id, status, built.version, odk.form_id, "; ".join(notes), server)


def _why(recorded: str | None, version: str, *, missing: bool, forced: bool = False) -> str:
    """Why a form the record calls current is deployed again (empty for a plain new version)."""
    if missing:
        return "missing on the server (deleted?): deployed again"
    if recorded == version:
        return "forced" if forced else "the server does not serve the recorded version: deployed again"
    return ""


def _record(
    engine: Engine,
    connection: Connection,
    built: BuiltForm,
    remote_id: str,
    state: dict[str, Any],
    *,
    deployed: bool = True,
) -> None:
    """Record `built` as what the connection serves (`deployed=False`: only `state` changed, e.g. an App User).

    A new remote id is a new server object, so its pull starts afresh.
    """
    state = {**state, "manifest": built.manifest.model_dump(mode="json")}
    with session_scope(engine) as session:
        remote = session.exec(
            select(RemoteForm).where(RemoteForm.connection_id == connection.id, RemoteForm.form_id == built.form_id)
        ).first()
        if remote is None:
            assert connection.id is not None
            remote = RemoteForm(connection_id=connection.id, form_id=built.form_id, remote_id=remote_id)
        elif remote.remote_id != remote_id:
            remote.remote_id, remote.cursor = remote_id, {}
        if deployed or remote.deployed_at is None:
            remote.deployed_version = built.version
            remote.deployed_at = utcnow()
        remote.remote_state = state
        session.add(remote)
