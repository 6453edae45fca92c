"""Deploy a generated XLSForm and its media to Kobo: create, import, (re)deploy, sync media, redeploy.

The caller decides whether a form changed at all (it keeps the last deployed version and reads the asset with
`inspect_asset`); once called, this does the whole sequence, skipping only media whose bytes the server already
has (KPI's `metadata.hash` is `md5:<hex>`).
"""

import hashlib
import json
import mimetypes
import re
from dataclasses import dataclass, field
from typing import Any

from sync.http import MalformedResponse, NotFound
from sync.kobo.client import KoboClient
from sync.kobo.data import PLATFORM


@dataclass
class KoboDeployment:
    """What a deployment did. `media_uploaded` lists new and replaced files; `media_deleted` lists files removed
    because they are no longer wanted (a replaced file is deleted and re-uploaded but listed only as uploaded)."""

    asset_uid: str
    version_id: str
    deployed_version_id: str
    media_uploaded: list[str] = field(default_factory=list)
    media_deleted: list[str] = field(default_factory=list)
    changed: bool = False


@dataclass(frozen=True)
class KoboAsset:
    """What KPI holds for an asset, read without writing anything."""

    uid: str | None
    exists: bool = False
    deployed_version_id: str | None = None
    active: bool = False

    def describe(self) -> str:
        """One line for people: what a `--check` prints as the server's side."""
        if self.uid is None:
            return "no asset"
        if not self.exists:
            return f"asset {self.uid} not found (deleted, or this token cannot see it)"
        if self.deployed_version_id is None:
            return f"asset {self.uid}, never deployed"
        state = "deployed" if self.active else "archived"
        return f"asset {self.uid}, {state} version {self.deployed_version_id}"


def inspect_asset(client: KoboClient, asset_uid: str | None) -> KoboAsset:
    """The asset's deployment as KPI reports it; a missing asset only on KPI's own 404 (not a proxy's page)."""
    if asset_uid is None:
        return KoboAsset(None)
    try:
        asset = client.get_asset(asset_uid)
    except NotFound as missing:
        if not _kpi_not_found(missing.body):
            raise
        return KoboAsset(asset_uid)
    deployed = asset.get("deployed_version_id") if asset.get("has_deployment") else None
    return KoboAsset(
        asset_uid,
        exists=True,
        deployed_version_id=deployed if isinstance(deployed, str) and deployed else None,
        active=bool(asset.get("deployment__active")),
    )


def _kpi_not_found(body: str) -> bool:
    try:
        return bool(json.loads(body) == {"detail": "Not found."})
    except ValueError:
        return False


def deploy_form(
    client: KoboClient,
    *,
    asset_uid: str | None,
    name: str,
    xlsx: bytes,
    media: dict[str, bytes],
    wait_timeout: float = 120,
    poll_interval: float = 1.0,
) -> KoboDeployment:
    """Put this XLSForm and exactly these media files live on the asset (created when `asset_uid` is None).

    Media changes reach the phones only through a redeploy, so one follows whenever media changed.
    `changed` is True when the deployed version or the media differ from what was live before the call.
    """
    if asset_uid is None:
        asset_uid = client.create_asset(name)["uid"]
        previously_deployed = None
    else:
        previously_deployed = client.get_asset(asset_uid).get("deployed_version_id")

    import_uid = client.import_xlsform(asset_uid, xlsx, _xlsx_filename(name))
    task = client.wait_import(import_uid, timeout=wait_timeout, poll_interval=poll_interval)
    _check_import_target(task, asset_uid)
    version_id = _version_id(client.get_asset(asset_uid))

    deployed = client.deploy(asset_uid, version_id)["version_id"]
    uploaded, deleted = sync_media(client, asset_uid, media)
    if uploaded or deleted:
        deployed = client.deploy(asset_uid, version_id)["version_id"]
    if deployed != version_id:
        raise MalformedResponse(
            f"asset {asset_uid}: deployed version {version_id} but the server reports {deployed}", platform=PLATFORM
        )
    return KoboDeployment(
        asset_uid=asset_uid,
        version_id=version_id,
        deployed_version_id=deployed,
        media_uploaded=uploaded,
        media_deleted=deleted,
        changed=deployed != previously_deployed or bool(uploaded or deleted),
    )


def sync_media(client: KoboClient, asset_uid: str, media: dict[str, bytes]) -> tuple[list[str], list[str]]:
    """Make the asset's live media exactly `media`; returns (uploaded, deleted) filenames, sorted.

    KPI refuses to upload a filename that is still live, so a changed file is deleted before its upload.
    """
    live: dict[str, list[dict[str, Any]]] = {}
    for item in client.list_media(asset_uid):
        live.setdefault(str((item.get("metadata") or {}).get("filename")), []).append(item)

    uploaded: list[str] = []
    for filename in sorted(media):
        content = media[filename]
        current = live.pop(filename, [])
        if len(current) == 1 and (current[0].get("metadata") or {}).get("hash") == md5_hash(content):
            continue
        for item in current:
            client.delete_media(asset_uid, item["uid"])
        client.upload_media(asset_uid, filename, content, _mimetype(filename))
        uploaded.append(filename)

    deleted: list[str] = []
    for filename in sorted(live):
        for item in live[filename]:
            client.delete_media(asset_uid, item["uid"])
        deleted.append(filename)
    return uploaded, deleted


def md5_hash(content: bytes) -> str:
    """The form KPI reports in `metadata.hash`."""
    return "md5:" + hashlib.md5(content, usedforsecurity=False).hexdigest()


def _mimetype(filename: str) -> str:
    """KPI guesses the type from the extension too, and refuses what it cannot guess as media."""
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def _xlsx_filename(name: str) -> str:
    return (re.sub(r"[^\w.-]+", "_", name).strip("_") or "form") + ".xlsx"


def _check_import_target(task: dict[str, Any], asset_uid: str) -> None:
    """An import with a `destination` reports the asset under `messages.updated`; anything else went astray."""
    updated = (task.get("messages") or {}).get("updated") or [{}]
    target = updated[0].get("uid") if isinstance(updated[0], dict) else None
    if target != asset_uid:
        raise MalformedResponse(
            f"import {task.get('uid')} did not update asset {asset_uid} (messages: {task.get('messages')!r})",
            platform=PLATFORM,
        )


def _version_id(asset: dict[str, Any]) -> str:
    version_id = asset.get("version_id")
    if not isinstance(version_id, str) or not version_id:
        raise MalformedResponse(f"asset {asset.get('uid')} has no version_id", platform=PLATFORM)
    return version_id
