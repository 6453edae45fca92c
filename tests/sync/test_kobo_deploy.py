"""Form deployment against the fake KPI server: create, import, deploy, media, redeploy; and the server rules the
sequence depends on (contract §3)."""

import hashlib
import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openpyxl import Workbook

from sync.http import RequestRejected, RetriesExhausted, RetryPolicy, ServerFailed
from sync.kobo import KoboClient, deploy_form
from tests.fakes.kobo import KoboFake
from tests.fakes.loopback import AppSlot

FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)
SURVEY = [["text", "village", "Village"], ["integer", "age", "Age"]]


def xlsform(survey: list[list[str]], choices: list[list[str]] | None = None) -> bytes:
    """An XLSForm workbook: `type | name | label` rows, optional `list_name | name | label` choices."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "survey"
    sheet.append(["type", "name", "label"])
    for row in survey:
        sheet.append(row)
    if choices is not None:
        sheet = book.create_sheet("choices")
        sheet.append(["list_name", "name", "label"])
        for row in choices:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def md5(content: bytes) -> str:
    return "md5:" + hashlib.md5(content, usedforsecurity=False).hexdigest()


@pytest.fixture
def fake() -> KoboFake:
    return KoboFake()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def url(slot: tuple[AppSlot, str], fake: KoboFake) -> str:
    slot[0].app = fake.app
    return slot[1]


@pytest.fixture
def client(fake: KoboFake, url: str, sleeps: list[float]) -> Iterator[KoboClient]:
    with KoboClient(url, fake.token, policy=FAST, sleep=sleeps.append) as client:
        yield client


@pytest.fixture
def raw(fake: KoboFake, url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, headers={"Authorization": f"Token {fake.token}"}) as http:
        yield http


def writes(fake: KoboFake, since: int = 0) -> list[str]:
    """The state-changing requests the server received, as `METHOD what` (uids left out)."""
    words = ("deployment", "files", "imports", "assets")
    return [
        f"{seen.method} {next(word for word in reversed(seen.path.strip('/').split('/')) if word in words)}"
        for seen in fake.requests[since:]
        if seen.method != "GET"
    ]


def deploy(client: KoboClient, asset_uid: str | None, xlsx: bytes, media: dict[str, bytes]) -> Any:
    return deploy_form(client, asset_uid=asset_uid, name="Household survey", xlsx=xlsx, media=media)


# -- the sequence -----------------------------------------------------------------------------------------------


def test_a_first_deployment_creates_imports_deploys_uploads_and_redeploys(
    fake: KoboFake, client: KoboClient, sleeps: list[float]
) -> None:
    media = {"villages.csv": b"name,label\nk1,Kibera\n", "regions.csv": b"name,label\nr1,Nairobi\n"}
    result = deploy_form(
        client, asset_uid=None, name="Household survey", xlsx=xlsform(SURVEY), media=media, poll_interval=0.5
    )
    asset = fake.asset(result.asset_uid)
    assert (asset.name, asset.asset_type) == ("Household survey", "survey")
    assert [row.get("name") for row in asset.content["survey"]] == ["village", "age"]
    assert result.version_id == result.deployed_version_id == asset.version.uid
    assert asset.deployment is not None and asset.deployment.version_id == result.version_id
    assert asset.deployment.active
    assert (result.media_uploaded, result.media_deleted, result.changed) == (["regions.csv", "villages.csv"], [], True)
    expected = {name: md5(content) for name, content in media.items()}
    assert fake.live_media(result.asset_uid) == expected
    assert fake.manifest(result.asset_uid) == expected  # the redeploy carried the media to the phones
    assert writes(fake) == [
        "POST assets",
        "POST imports",
        "POST deployment",
        "POST files",
        "POST files",
        "PATCH deployment",
    ]
    assert sleeps == [0.5]  # the import answered `processing` once


def test_a_second_call_with_the_same_media_uploads_nothing(fake: KoboFake, client: KoboClient) -> None:
    media = {"villages.csv": b"name,label\nk1,Kibera\n"}
    first = deploy(client, None, xlsform(SURVEY), media)
    seen = len(fake.requests)
    second = deploy(client, first.asset_uid, xlsform([*SURVEY, ["text", "notes", "Notes"]]), media)
    assert (second.media_uploaded, second.media_deleted) == ([], [])
    assert second.version_id != first.version_id
    assert second.deployed_version_id == second.version_id == fake.asset(first.asset_uid).deployment.version_id
    assert second.changed
    assert writes(fake, seen) == ["POST imports", "PATCH deployment"]
    assert fake.manifest(first.asset_uid) == {"villages.csv": md5(media["villages.csv"])}


def test_changed_media_are_replaced_and_unwanted_ones_deleted(fake: KoboFake, client: KoboClient) -> None:
    old = {"villages.csv": b"name\nk1\n", "regions.csv": b"name\nr1\n"}
    first = deploy(client, None, xlsform(SURVEY), old)
    seen = len(fake.requests)
    new = {"villages.csv": b"name\nk1\nk2\n", "communes.csv": b"name\nc1\n"}
    second = deploy(client, first.asset_uid, xlsform(SURVEY), new)
    assert (second.media_uploaded, second.media_deleted) == (["communes.csv", "villages.csv"], ["regions.csv"])
    expected = {name: md5(content) for name, content in new.items()}
    assert fake.live_media(first.asset_uid) == fake.manifest(first.asset_uid) == expected
    assert writes(fake, seen) == [
        "POST imports",
        "PATCH deployment",
        "POST files",
        "DELETE files",  # the old villages.csv: KPI refuses a filename that is still live
        "POST files",
        "DELETE files",
        "PATCH deployment",
    ]
    listed = client.get_asset(first.asset_uid)["files"]
    assert len(listed) == 4  # the asset's own list keeps soft-deleted files; list_media does not
    assert {item["metadata"]["filename"] for item in client.list_media(first.asset_uid)} == set(new)


def test_an_existing_deployed_asset_is_redeployed(fake: KoboFake, client: KoboClient) -> None:
    uid = fake.add_asset()
    before = fake.asset(uid).deployment.version_id
    result = deploy(client, uid, xlsform(SURVEY), {})
    assert result.deployed_version_id != before
    assert fake.asset(uid).deployment.version_id == result.version_id
    assert writes(fake) == ["POST imports", "PATCH deployment"]


def test_the_sequence_survives_transient_failures(fake: KoboFake, client: KoboClient) -> None:
    fake.fail_every(3)
    result = deploy(client, None, xlsform(SURVEY), {"villages.csv": b"name\nk1\n"})
    assert fake.manifest(result.asset_uid) == {"villages.csv": md5(b"name\nk1\n")}
    assert client.retries > 0
    assert len(fake.assets) == 1  # a create refused with 503 was not acted on, so its retry made no duplicate


# -- failures ---------------------------------------------------------------------------------------------------


def test_an_import_error_carries_the_servers_message(fake: KoboFake, client: KoboClient) -> None:
    duplicate = xlsform([["text", "age", "Age"], ["integer", "age", "Age again"]])
    with pytest.raises(RequestRejected, match="DuplicateNameException: Duplicate node name: age"):
        deploy(client, None, duplicate, {})
    (asset,) = fake.assets.values()
    assert asset.deployment is None


def test_a_form_pyxform_refuses_fails_at_deploy_not_at_import(fake: KoboFake, client: KoboClient) -> None:
    no_choices = xlsform([["select_one yes_no", "consent", "Consent?"]])
    with pytest.raises(RequestRejected, match="choices") as raised:
        deploy(client, None, no_choices, {})
    assert raised.value.status == 400 and raised.value.method == "POST"
    (asset,) = fake.assets.values()
    assert asset.deployment is None and asset.content["survey"][0]["select_from_list_name"] == "yes_no"


def test_waiting_for_an_import_gives_up_after_the_timeout(slot: tuple[AppSlot, str], sleeps: list[float]) -> None:
    slow = KoboFake(import_polls=1_000)
    slot[0].app = slow.app
    with KoboClient(slot[1], slow.token, policy=FAST, sleep=sleeps.append) as slow_client:
        uid = slow_client.create_asset("slow")["uid"]
        import_uid = slow_client.import_xlsform(uid, xlsform(SURVEY), "form.xlsx")
        with pytest.raises(RetriesExhausted, match="still processing after 3 s"):
            slow_client.wait_import(import_uid, timeout=3, poll_interval=1)
    assert sleeps == [1, 1, 1]


# -- the server rules the sequence relies on ----------------------------------------------------------------------


def test_deployment_verbs_versions_and_archiving(fake: KoboFake, client: KoboClient, raw: httpx.Client) -> None:
    uid = client.create_asset("Verbs")["uid"]
    client.wait_import(client.import_xlsform(uid, xlsform(SURVEY), "f.xlsx"), timeout=5, poll_interval=0)
    path = f"/api/v2/assets/{uid}/deployment/"
    assert (raw.patch(path, json={"active": True}).status_code, raw.get(path).status_code) == (405, 404)
    version = client.get_asset(uid)["version_id"]
    created = raw.post(path, json={"active": True})
    assert created.status_code == 200 and created.json()["version_id"] == version
    again = raw.post(path, json={"active": True})
    assert (again.status_code, again.json()) == (405, {"detail": "Use PATCH to update an existing deployment"})

    client.wait_import(client.import_xlsform(uid, xlsform(SURVEY), "f.xlsx"), timeout=5, poll_interval=0)
    asset = client.get_asset(uid)
    assert asset["version_id"] != asset["deployed_version_id"] == version  # imported, not yet deployed
    archived = raw.patch(path, json={"active": False}).json()
    assert (archived["active"], archived["version_id"]) == (False, version)  # `active` alone redeploys nothing
    assert client.get_asset(uid)["deployment_status"] == "archived"
    with pytest.raises(ServerFailed):
        client.deploy(uid, version)  # not the current version: KPI raises a plain exception, a 500
    deployed = client.deploy(uid, asset["version_id"])
    assert (deployed["version_id"], deployed["active"]) == (asset["version_id"], True)
    versions = raw.get(f"/api/v2/assets/{uid}/versions/", params={"deployed": "true"}).json()
    assert [v["uid"] for v in versions["results"]] == [asset["version_id"], version]


def test_media_upload_rules(fake: KoboFake, client: KoboClient, raw: httpx.Client) -> None:
    uid = fake.add_asset()
    uploaded = client.upload_media(uid, "villages.csv", b"name\nk1\n", "text/csv")
    assert uploaded["metadata"] == {"filename": "villages.csv", "hash": md5(b"name\nk1\n"), "mimetype": "text/csv"}
    assert raw.get(uploaded["content"]).content == b"name\nk1\n"
    with pytest.raises(RequestRejected) as raised:
        client.upload_media(uid, "villages.csv", b"other", "text/csv")
    assert json.loads(raised.value.body) == {"content": ["File already exists"]}
    with pytest.raises(RequestRejected, match="MIME types are allowed"):
        client.upload_media(uid, "villages.txt", b"name\nk1\n", "text/plain")
    no_description = raw.post(
        f"/api/v2/assets/{uid}/files/", data={"file_type": "form_media"}, files={"content": ("a.csv", b"x")}
    )
    assert (no_description.status_code, no_description.json()) == (400, {"description": ["This field is required."]})
    client.delete_media(uid, uploaded["uid"])
    assert client.list_media(uid) == []
    assert raw.get(f"/api/v2/assets/{uid}/files/{uploaded['uid']}/").status_code == 404


def test_an_import_without_library_false_makes_a_library_block(fake: KoboFake, raw: httpx.Client) -> None:
    kinds = {}
    for fields in ({}, {"library": "false"}):
        task = raw.post(
            "/api/v2/imports/", data={"name": "Loose", **fields}, files={"file": ("f.xlsx", xlsform(SURVEY))}
        )
        assert task.status_code == 201 and task.json()["status"] == "processing"
        path = f"/api/v2/imports/{task.json()['uid']}/"
        assert raw.get(path).json()["status"] == "processing"
        done = raw.get(path).json()
        assert done["status"] == "complete"
        (created,) = done["messages"]["created"]
        kinds[bool(fields)] = fake.asset(created["uid"]).asset_type
    assert kinds == {False: "block", True: "survey"}
