"""deploy_form against the fake Central over real HTTP: create, media, publish, re-deploy, App User access."""

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field

import pytest

from sync.http import RequestRejected, ServerFailed
from sync.odk import CentralClient, DeployError, VersionAlreadyPublished, deploy_form
from sync.odk.deploy import CentralForm, inspect_form
from tests.fakes.loopback import AppSlot
from tests.fakes.odk_central import ROLES, CentralFake, Definition, Logged, make_xform

EMAIL, PASSWORD = "deploy@example.org", "correct horse battery staple"
FORM = "inscription_beneficiaires"
MEDIA = {"communes.csv": b"name,label\nagadir,Agadir\noujda,Oujda\n", "logo.png": b"\x89PNG\r\n\x1a\n-logo-"}
APP_USER_ROLE = next(role["id"] for role in ROLES if role["system"] == "app-user")


def xform(version: str, *, extra: bool = False) -> bytes:
    fields = {"name": "string", "age": "int", "commune": "string"} | ({"phone": "string"} if extra else {})
    return make_xform(FORM, version, fields=fields, media=sorted(MEDIA))


@dataclass
class Central:
    fake: CentralFake
    project: int
    client: CentralClient
    sleeps: list[float] = field(default_factory=list)

    def deploy(self, version: str, *, xml: bytes | None = None, media: dict[str, bytes] | None = None, **options):
        return deploy_form(
            self.client,
            project_id=self.project,
            form_id=FORM,
            xform_xml=xml if xml is not None else xform(version),
            version=version,
            media=MEDIA if media is None else media,
            **options,
        )

    def published(self) -> Definition:
        """The form's current published definition on the server."""
        definition = self.fake.form(self.project, FORM).current
        assert definition is not None, "the form has no published version"
        return definition

    def writes_since(self, mark: int) -> list[Logged]:
        return [r for r in self.fake.requests[mark:] if r.method != "GET"]


@pytest.fixture
def start(slot: tuple[AppSlot, str]) -> Iterator[Callable[[str], Central]]:
    """`start(version)` → a served fake Central with one user and one project, and a client logged in to it."""
    with ExitStack() as stack:

        def start(version: str = "2026.2") -> Central:
            fake = CentralFake(version)
            fake.add_user(EMAIL, PASSWORD)
            project = fake.add_project()
            forwarding, url = slot
            forwarding.app = fake.app
            sleeps: list[float] = []
            client = stack.enter_context(CentralClient(url, EMAIL, PASSWORD, sleep=sleeps.append))
            return Central(fake, project, client, sleeps)

        yield start


@pytest.fixture
def central(start) -> Central:
    return start("2026.2")


def test_first_deploy_creates_uploads_publishes_and_gives_the_app_user_access(central: Central) -> None:
    result = central.deploy("2026.1", app_user="Collecte Oriental")

    form = central.fake.form(central.project, FORM)
    assert (result.created, result.published, result.version) == (True, True, "2026.1")
    assert sorted(result.attachments) == sorted(MEDIA)
    assert [d.version for d in form.published] == ["2026.1"] and form.draft is None
    assert {name: a.content for name, a in central.published().attachments.items()} == MEDIA
    assert central.published().attachments["communes.csv"].content_type == "text/csv"
    app_user = central.fake.actors[result.app_user_id]
    assert (app_user.type, app_user.display_name) == ("field_key", "Collecte Oriental")
    assert form.assignments == {(APP_USER_ROLE, result.app_user_id)}
    create = next(r for r in central.fake.requests if r.method == "POST" and r.path.endswith("/forms"))
    assert "publish=false" in create.query and "ignoreWarnings=true" in create.query


def test_deploying_the_published_version_again_writes_nothing(central: Central) -> None:
    first = central.deploy("2026.1", app_user="Collecte Oriental")
    mark = len(central.fake.requests)
    second = central.deploy("2026.1", app_user="Collecte Oriental")

    assert (second.created, second.published, second.attachments) == (False, False, [])
    assert second.app_user_id == first.app_user_id
    assert central.writes_since(mark) == []
    assert len([a for a in central.fake.actors.values() if a.type == "field_key"]) == 1


@pytest.mark.parametrize(("version", "uploaded"), [("2026.2", ["communes.csv"]), ("2024.2", sorted(MEDIA))])
def test_a_changed_form_goes_through_a_new_draft(start, version: str, uploaded: list[str]) -> None:
    """Media the server already holds are skipped where Central reports their hash (2024.3+)."""
    central = start(version)
    central.deploy("2026.1")
    media = MEDIA | {"communes.csv": MEDIA["communes.csv"] + b"berkane,Berkane\n"}
    mark = len(central.fake.requests)
    result = central.deploy("2026.2", xml=xform("2026.2", extra=True), media=media)

    form = central.fake.form(central.project, FORM)
    assert (result.created, result.published) == (False, True)
    assert sorted(result.attachments) == uploaded
    assert [d.version for d in form.published] == ["2026.2", "2026.1"]
    assert "phone" in {node.name for node in central.published().fields}
    assert {name: a.content for name, a in central.published().attachments.items()} == media
    writes = [r.path.removeprefix(f"/v1/projects/{central.project}/forms/{FORM}") for r in central.writes_since(mark)]
    assert writes[0] == "/draft" and writes[-1] == "/draft/publish"


@pytest.mark.parametrize("server", ["2026.2", "2024.2"])
def test_a_version_published_before_and_replaced_is_refused_before_any_write(start, server: str) -> None:
    """Publishing it would be Central's 409.6 after a new draft: it used to fail so, leaving the draft each time."""
    central = start(server)
    central.deploy("1")
    central.deploy("2", xml=xform("2", extra=True))
    mark = len(central.fake.requests)
    for _ in range(2):
        with pytest.raises(DeployError, match=r"version '1' was published on the server before .* by '2'"):
            central.deploy("1")  # a rollback to old XML must get a new version string

    assert central.writes_since(mark) == []
    form = central.fake.form(central.project, FORM)
    assert form.draft is None and central.published().version == "2"


@pytest.mark.parametrize("server", ["2026.2", "2024.2"])
def test_a_version_published_meanwhile_gets_centrals_409_6_and_our_draft_is_deleted(start, server: str) -> None:
    """Someone publishes the same version between our read and our publish: Central refuses; no draft is left."""
    central = start(server)
    central.deploy("1")
    before = inspect_form(central.client, central.project, FORM)
    central.fake.replace_draft(central.fake.form(central.project, FORM), Definition.from_xml(xform("2", extra=True)))
    central.fake.publish(central.fake.form(central.project, FORM), None)  # the other publisher
    with pytest.raises(VersionAlreadyPublished) as raised:
        central.deploy("2", xml=xform("2", extra=True), server=before)

    assert isinstance(raised.value, RequestRejected)
    assert "409.6" in str(raised.value) and "version '2'" in str(raised.value)
    form = central.fake.form(central.project, FORM)
    assert form.draft is None and central.published().version == "2"


@pytest.mark.parametrize("server", ["2026.2", "2024.2"])
def test_a_stray_draft_of_the_published_version_is_deleted(start, server: str) -> None:
    """A draft of the version already published (left by a run that could not publish it) can never be published."""
    central = start(server)
    central.deploy("1")
    form = central.fake.form(central.project, FORM)
    central.fake.replace_draft(form, Definition.from_xml(xform("1")))
    mark = len(central.fake.requests)
    result = central.deploy("1")

    assert (result.published, result.draft_deleted) == (False, True)
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in central.writes_since(mark)] == [("DELETE", "draft")]
    assert form.draft is None and central.published().version == "1"


@pytest.mark.parametrize("server", ["2026.2", "2024.2"])
def test_a_draft_of_this_very_version_is_reused_and_another_draft_replaced(start, server: str) -> None:
    central = start(server)
    with pytest.raises(DeployError, match=r"communes\.csv"):
        central.deploy("1", media={"logo.png": MEDIA["logo.png"]})  # leaves a draft of "1", never published
    mark = len(central.fake.requests)
    central.deploy("1")
    paths = [r.path.removeprefix(f"/v1/projects/{central.project}/forms/{FORM}") for r in central.writes_since(mark)]
    assert "/draft" not in paths and paths[-1] == "/draft/publish"  # the draft was reused, not made again

    central.fake.replace_draft(central.fake.form(central.project, FORM), Definition.from_xml(xform("x", extra=True)))
    mark = len(central.fake.requests)
    central.deploy("2", xml=xform("2", extra=True))
    paths = [r.path.removeprefix(f"/v1/projects/{central.project}/forms/{FORM}") for r in central.writes_since(mark)]
    assert paths[0] == "/draft" and paths[-1] == "/draft/publish"  # someone else's draft: replaced by ours
    assert central.published().version == "2"


def test_inspect_reads_the_published_versions_and_the_draft_without_writing(central: Central) -> None:
    assert inspect_form(central.client, central.project, FORM) == CentralForm()
    central.deploy("1")
    central.deploy("2", xml=xform("2", extra=True))
    central.fake.replace_draft(central.fake.form(central.project, FORM), Definition.from_xml(xform("3", extra=True)))
    mark = len(central.fake.requests)
    found = inspect_form(central.client, central.project, FORM)

    assert (found.exists, found.current, found.published, found.draft) == (True, "2", ("2", "1"), "3")
    assert found.describe() == "published 2, 1 earlier version(s), draft 3"
    assert found.refusal("2") is None and found.refusal("3") is None and "replaced by '2'" in str(found.refusal("1"))
    assert central.writes_since(mark) == []
    central.fake.delete_form(central.project, FORM)
    assert inspect_form(central.client, central.project, FORM) == CentralForm()


def test_missing_media_stop_the_deploy_before_publishing_and_a_rerun_completes(central: Central) -> None:
    with pytest.raises(DeployError, match=r"communes\.csv"):
        central.deploy("1", media={"logo.png": MEDIA["logo.png"]})
    form = central.fake.form(central.project, FORM)
    assert form.published == [] and form.draft is not None

    result = central.deploy("1")

    assert (result.created, result.published) == (False, True)
    assert central.published().version == "1"


def test_a_gateway_timeout_after_the_create_is_not_retried_and_a_rerun_completes(central: Central) -> None:
    """The POST went through but its answer was lost: retrying blindly would 409; re-running the deploy works."""
    central.fake.fail_next(1, 504, match=r"^POST /v1/projects/\d+/forms$", processed=True)
    with pytest.raises(ServerFailed):
        central.deploy("1")
    assert central.client.retries == 0

    result = central.deploy("1")

    assert (result.created, result.published) == (False, True)
    assert len(central.fake.forms) == 1


def test_deploy_rides_through_503s(central: Central) -> None:
    central.fake.fail_every(2)
    result = central.deploy("1", app_user="Collecte Souss-Massa")

    assert result.published and central.published().version == "1"
    assert central.client.retries == central.fake.injected > 0


def test_an_existing_app_user_is_reused(central: Central) -> None:
    existing = central.fake.add_app_user(central.project, "Collecte Oriental")
    result = central.deploy("1", app_user="Collecte Oriental")

    assert result.app_user_id == existing.id
    assert central.fake.form(central.project, FORM).assignments == {(APP_USER_ROLE, existing.id)}
    assert len([a for a in central.fake.actors.values() if a.type == "field_key"]) == 1


def test_the_xml_form_id_must_match(central: Central) -> None:
    with pytest.raises(DeployError, match="autre_formulaire"):
        central.deploy("1", xml=make_xform("autre_formulaire", "1"))
    assert central.fake.forms == {}

    central.deploy("1")
    with pytest.raises(RequestRejected, match=r"400\.8"):
        central.client.create_draft(central.project, FORM, make_xform("autre_formulaire", "2"))
