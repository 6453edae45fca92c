"""Deploying built forms to a connection: only forms whose version changed, remote ids and versions recorded.

The local record (`remote_form`) keeps the server's ids, the version deployed and its build manifest, so
deploying an unchanged form does nothing and `sera forms diff --connection` can say what the phones have.
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
from sync.odk.deploy import DeployError
from sync.service import ClientFactory, default_client
from sync.tables import Connection, RemoteForm
from xlsforms.build import BuildResult, BuiltForm
from xlsforms.manifest import Manifest, ManifestForm
from xlsforms.xlsx import xlsx_bytes


@dataclass(frozen=True)
class DeployOutcome:
    form_id: str
    status: str
    """`deployed`, `unchanged` or `failed`."""
    version: str
    remote_id: str | None
    detail: str = ""


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
    client_factory: ClientFactory = default_client,
) -> list[DeployOutcome]:
    """Deploy each built form whose version differs from the one deployed on the connection, in build order."""
    with session_scope(engine) as session:
        connection = get_connection(session, connection_name)
        session.expunge(connection)
        deployed = {
            r.form_id: r.deployed_version
            for r in session.exec(select(RemoteForm).where(RemoteForm.connection_id == connection.id))
        }
    outcomes: dict[str, DeployOutcome] = {
        b.form_id: DeployOutcome(b.form_id, "unchanged", b.version, None)
        for b in result.forms.values()
        if deployed.get(b.form_id) == b.version
    }
    pending = [built for built in result.forms.values() if built.form_id not in outcomes]
    if pending:
        client = client_factory(connection, resolve_secret(connection, settings.secret_key.get_secret_value()))
        try:
            for built in pending:
                outcomes[built.form_id] = _deploy_one(engine, connection, client, built, app_user)
        finally:
            client.close()
    return [outcomes[form_id] for form_id in result.forms]


def _deploy_one(
    engine: Engine, connection: Connection, client: Any, built: BuiltForm, app_user: str | None
) -> DeployOutcome:
    with session_scope(engine) as session:
        remote = session.exec(
            select(RemoteForm).where(RemoteForm.connection_id == connection.id, RemoteForm.form_id == built.form_id)
        ).first()
        remote_id = remote.remote_id if remote else None
        state = dict(remote.remote_state) if remote else {}
    try:
        if connection.platform == "kobo":
            from sync.kobo.deploy import deploy_form as kobo_deploy

            xlsx = xlsx_bytes(built.sheets)
            title = built.manifest.title
            kobo = kobo_deploy(
                client, asset_uid=remote_id, name=f"{title.fr} ({built.form_id})", xlsx=xlsx, media=built.media
            )
            remote_id = kobo.asset_uid
            versions = dict(state.get("versions", {}))
            versions[kobo.deployed_version_id] = built.version
            state.update(version_id=kobo.version_id, deployed_version_id=kobo.deployed_version_id, versions=versions)
        else:
            from sync.odk.deploy import deploy_form as odk_deploy

            assert connection.project_id is not None
            odk = odk_deploy(
                client,
                project_id=connection.project_id,
                form_id=built.form_id,
                xform_xml=built.xform.encode("utf-8"),
                version=built.version,
                media=built.media,
                app_user=app_user,
            )
            remote_id = odk.form_id
            if odk.app_user_id is not None:
                state["app_user_id"] = odk.app_user_id
    except (RemoteError, ConnectionProblem, DeployError) as failure:
        return DeployOutcome(built.form_id, "failed", built.version, remote_id, str(failure))
    state["manifest"] = built.manifest.model_dump(mode="json")
    with session_scope(engine) as session:
        remote = session.exec(
            select(RemoteForm).where(RemoteForm.connection_id == connection.id, RemoteForm.form_id == built.form_id)
        ).first()
        if remote is None:
            assert connection.id is not None and remote_id is not None
            remote = RemoteForm(connection_id=connection.id, form_id=built.form_id, remote_id=remote_id)
        remote.remote_id = remote_id or remote.remote_id
        remote.deployed_version = built.version
        remote.deployed_at = utcnow()
        remote.remote_state = state
        session.add(remote)
    return DeployOutcome(built.form_id, "deployed", built.version, remote_id)
