"""Deploy one form version to Central: draft from the XForm, media, publish, App User access.

The sequence can be run again after a failure at any step: a form left as a draft by an interrupted run gets a
new draft, media are re-uploaded (or skipped when the server already holds the same bytes), and a version that
is already published is left alone. Publishing is the last write, so phones never see a half-deployed version.
"""

import hashlib
import logging
import mimetypes
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from sync.odk.client import CentralClient

log = logging.getLogger(__name__)

APP_USER_ROLE = "app-user"


class DeployError(Exception):
    """The deployment cannot go on as asked (wrong XForm, media missing); the message says what to fix."""


@dataclass(frozen=True)
class CentralDeployment:
    """What a deploy did: `created` = the form was new, `published` = a version was published by this run."""

    form_id: str
    version: str
    created: bool
    published: bool
    attachments: list[str] = field(default_factory=list)
    app_user_id: int | None = None


def deploy_form(
    client: CentralClient,
    *,
    project_id: int,
    form_id: str,
    xform_xml: bytes,
    version: str,
    media: dict[str, bytes],
    app_user: str | None = None,
) -> CentralDeployment:
    """Publish `xform_xml` as `version` of `form_id` with its media, unless that version is already published.

    :param media: file name → bytes for the form's `jr://` references; names the form does not expect are
        skipped, and an expected file that is neither given nor already on the server stops the deploy.
    :param app_user: display name of an App User to get or create and give the form's app-user role
        (also done when the version was already published, so adding it later takes effect).
    """
    xml_id = xform_id(xform_xml)
    if xml_id != form_id:
        raise DeployError(f"form {form_id!r}: the XForm's id is {xml_id!r}; deploy it under that id")
    form = client.get_form(project_id, form_id)
    created = published = False
    uploaded: list[str] = []
    if form is not None and form.get("publishedAt") and form.get("version") == version:
        log.info("form %r version %r is already published; nothing to deploy", form_id, version)
    else:
        if form is None:
            client.create_form(project_id, xform_xml)
            created = True
        else:
            client.create_draft(project_id, form_id, xform_xml)
        uploaded = _upload_media(client, project_id, form_id, media)
        client.publish_draft(project_id, form_id, version)
        published = True
        log.info("form %r published as version %r (%d media uploaded)", form_id, version, len(uploaded))
    app_user_id = _grant_app_user(client, project_id, form_id, app_user) if app_user else None
    return CentralDeployment(form_id, version, created, published, uploaded, app_user_id)


def xform_id(xform_xml: bytes) -> str:
    """The form id of an XForm: the `id` attribute of its primary instance's root element."""
    try:
        root = ET.fromstring(xform_xml)  # our own build output, not untrusted input
    except ET.ParseError as error:
        raise DeployError(f"the XForm is not well-formed XML: {error}") from error
    for element in root.iter():
        if _local(element.tag) == "instance" and "src" not in element.attrib:
            children = list(element)
            if children and children[0].get("id"):
                return str(children[0].get("id"))
            break
    raise DeployError("the XForm has no primary instance with an id")


def _upload_media(client: CentralClient, project_id: int, form_id: str, media: dict[str, bytes]) -> list[str]:
    """Upload what the draft expects; skip a file the server already holds byte for byte (`hash`, 2024.3+)."""
    expected = client.list_draft_attachments(project_id, form_id)
    expected_names = {slot["name"] for slot in expected}
    unexpected = sorted(set(media) - expected_names)
    if unexpected:
        log.warning("form %r does not reference %s; not uploaded", form_id, ", ".join(unexpected))
    missing = [slot["name"] for slot in expected if slot["name"] not in media and not _filled(slot)]
    if missing:
        raise DeployError(
            f"form {form_id!r} expects media that were not given and are not on the server: {', '.join(missing)}"
        )
    uploaded = []
    for slot in expected:
        name = slot["name"]
        if name not in media:
            continue
        content = media[name]
        if slot.get("exists") and slot.get("hash") == hashlib.md5(content, usedforsecurity=False).hexdigest():
            continue
        client.upload_draft_attachment(project_id, form_id, name, content, _content_type(name))
        uploaded.append(name)
    return uploaded


def _filled(slot: dict[str, Any]) -> bool:
    """A slot already served: a file carried over from the previous version, or a linked Entity List."""
    return bool(slot.get("exists") or slot.get("datasetExists"))


def _grant_app_user(client: CentralClient, project_id: int, form_id: str, display_name: str) -> int:
    """Get or create the App User by display name and make sure it holds the app-user role on the form."""
    users = [
        user
        for user in client.list_app_users(project_id)
        if user.get("displayName") == display_name and user.get("token")  # revoked users have no token
    ]
    user = min(users, key=lambda u: u["id"]) if users else client.create_app_user(project_id, display_name)
    role_id = client.role_id(APP_USER_ROLE)
    holders = {actor["id"] for actor in client.list_form_assignments(project_id, form_id, role_id)}
    if user["id"] not in holders:
        client.assign_form_role(project_id, form_id, role_id, user["id"])
    return int(user["id"])


def _content_type(name: str) -> str:
    if name.lower().endswith(".csv"):
        return "text/csv"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
