"""Deploy one form version to Central: draft from the XForm, media, publish, App User access.

The sequence reads what the server holds first and can be run again after a failure at any step: a draft of
this very version (same XForm bytes) left by an interrupted run is reused, any other draft is replaced, media
are uploaded unless the server already holds the same bytes, and a version that is already the published one
is left alone. Central publishes a version string once per form (409.6), so a version published earlier and
since replaced is refused before anything is written, and a draft of ours that can no longer be published is
deleted rather than left behind. Publishing is the last write, so phones never see a half-deployed version.
"""

import contextlib
import hashlib
import logging
import mimetypes
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from sync.http import RemoteError
from sync.odk.client import CentralClient
from sync.odk.errors import VersionAlreadyPublished

log = logging.getLogger(__name__)

APP_USER_ROLE = "app-user"


class DeployError(Exception):
    """The deployment cannot go on as asked (wrong XForm, media missing); the message says what to fix."""


@dataclass(frozen=True)
class CentralForm:
    """What Central holds under one form id, read without writing anything."""

    exists: bool = False
    current: str | None = None
    """The published version phones get; None when the form was never published."""
    published: tuple[str, ...] = ()
    """Every published version, newest first."""
    draft: str | None = None
    draft_hash: str | None = None
    """MD5 of the draft's XForm, as Central reports it."""

    def describe(self) -> str:
        """One line for people: what a `--check` prints as the server's side."""
        if not self.exists:
            return "absent"
        parts = [f"published {self.current}" if self.current else "never published"]
        if len(self.published) > 1:
            parts.append(f"{len(self.published) - 1} earlier version(s)")
        if self.draft is not None:
            parts.append(f"draft {self.draft or '(no version)'}")
        return ", ".join(parts)

    def refusal(self, version: str) -> str | None:
        """Why publishing `version` would be refused (409.6): it was published before and is no longer current."""
        if version in self.published and version != self.current:
            return (
                f"version {version!r} was published on the server before and has been replaced by {self.current!r}; "
                "Central publishes a version only once, so change the form (a new catalogue revision) to deploy it"
            )
        return None


@dataclass(frozen=True)
class CentralDeployment:
    """What a deploy did: `created` = the form was new, `published` = a version was published by this run."""

    form_id: str
    version: str
    created: bool
    published: bool
    attachments: list[str] = field(default_factory=list)
    app_user_id: int | None = None
    draft_deleted: bool = False
    """A stray draft of this version was discarded (left by an earlier run that could not publish it)."""


def inspect_form(client: CentralClient, project_id: int, form_id: str) -> CentralForm:
    """Read the form, its published versions and its draft (three GETs at most, no writes)."""
    form = client.get_form(project_id, form_id)
    if form is None:
        return CentralForm()
    published: tuple[str, ...] = ()
    current = None
    if form.get("publishedAt"):
        current = str(form.get("version") or "")
        published = tuple(str(v.get("version") or "") for v in client.list_versions(project_id, form_id))
        if current not in published:
            published = (current, *published)
    draft = client.get_draft(project_id, form_id)
    return CentralForm(
        exists=True,
        current=current,
        published=published,
        draft=str(draft.get("version") or "") if draft is not None else None,
        draft_hash=str(draft.get("hash")) if draft is not None and draft.get("hash") else None,
    )


def deploy_form(
    client: CentralClient,
    *,
    project_id: int,
    form_id: str,
    xform_xml: bytes,
    version: str,
    media: dict[str, bytes],
    app_user: str | None = None,
    server: CentralForm | None = None,
) -> CentralDeployment:
    """Publish `xform_xml` as `version` of `form_id` with its media, unless that version is already published.

    :param media: file name → bytes for the form's `jr://` references; names the form does not expect are
        skipped, and an expected file that is neither given nor already on the server stops the deploy.
    :param app_user: display name of an App User to get or create and give the form's app-user role
        (also done when the version was already published, so adding it later takes effect).
    :param server: what `inspect_form` just read, to spare reading it again.
    """
    xml_id = xform_id(xform_xml)
    if xml_id != form_id:
        raise DeployError(f"form {form_id!r}: the XForm's id is {xml_id!r}; deploy it under that id")
    if server is None:
        server = inspect_form(client, project_id, form_id)
    created = published = draft_deleted = False
    uploaded: list[str] = []
    refusal = server.refusal(version)
    if server.current == version or refusal is not None:
        if server.draft == version and server.current is not None:
            client.delete_draft(project_id, form_id)
            draft_deleted = True
            log.info("form %r: deleted a stray draft of version %r", form_id, version)
        if refusal is not None:
            raise DeployError(f"form {form_id!r}: {refusal}")
        log.info("form %r version %r is already published; nothing to deploy", form_id, version)
    else:
        if not server.exists:
            client.create_form(project_id, xform_xml)
            created = True
        elif server.draft == version and server.draft_hash == hashlib.md5(xform_xml, usedforsecurity=False).hexdigest():
            log.info("form %r: reusing the draft of version %r left on the server", form_id, version)
        else:
            client.create_draft(project_id, form_id, xform_xml)
        uploaded = _upload_media(client, project_id, form_id, media)
        try:
            client.publish_draft(project_id, form_id, version)
        except VersionAlreadyPublished:
            # published meanwhile by someone else: the draft can never be published as this version
            if server.current is not None:
                with contextlib.suppress(RemoteError):
                    client.delete_draft(project_id, form_id)
            raise
        published = True
        log.info("form %r published as version %r (%d media uploaded)", form_id, version, len(uploaded))
    app_user_id = _grant_app_user(client, project_id, form_id, app_user) if app_user else None
    return CentralDeployment(form_id, version, created, published, uploaded, app_user_id, draft_deleted)


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
