"""KoboClient against the fake KPI server over real HTTP: paging, queries, edits, deletions, faults, auth.

Some tests speak raw HTTP to the fake to pin the server behaviour the client relies on (contract §5, §10).
"""

import json
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest

from sync.http import AuthenticationFailed, MalformedResponse, NotFound, RequestRejected, RetriesExhausted, RetryPolicy
from sync.kobo import KoboClient, KoboPage
from tests.fakes.kobo import KoboFake
from tests.fakes.loopback import AppSlot

FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)
WINDOW_START = "2026-05-03T10:00:00"


Connect = Callable[..., AbstractContextManager[KoboClient]]


@pytest.fixture
def fake() -> KoboFake:
    return KoboFake()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def connect(slot: tuple[AppSlot, str], sleeps: list[float]) -> Connect:
    """`connect(fake, **options)`: a KoboClient on that fake over 127.0.0.1; delays go into `sleeps`."""

    @contextmanager
    def connect(fake: KoboFake, **options: Any) -> Iterator[KoboClient]:
        slot[0].app = fake.app
        with KoboClient(slot[1], fake.token, policy=FAST, sleep=sleeps.append, **options) as client:
            yield client

    return connect


@pytest.fixture
def url(slot: tuple[AppSlot, str], fake: KoboFake) -> str:
    slot[0].app = fake.app
    return slot[1]


@pytest.fixture
def client(fake: KoboFake, connect: Connect) -> Iterator[KoboClient]:
    with connect(fake) as client:
        yield client


@pytest.fixture
def raw(fake: KoboFake, url: str) -> Iterator[httpx.Client]:
    """Plain HTTP to the same server, to pin what the server itself answers."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Token {fake.token}"}) as http:
        yield http


def fill(fake: KoboFake, n: int, **kwargs: Any) -> tuple[str, list[int]]:
    uid = fake.add_asset(**kwargs)
    ids = [fake.add_submission(uid, {"village": f"v{i}", "household/size": i % 7})["_id"] for i in range(n)]
    return uid, ids


def scan(client: KoboClient, uid: str, **kwargs: Any) -> list[KoboPage]:
    """Follow `next` from the first page to the end."""
    pages = [client.data_page(uid, **kwargs)]
    while pages[-1].next is not None:
        pages.append(client.follow(pages[-1].next))
    return pages


def keyset(client: KoboClient, uid: str, query: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    """The sync engine's scan: `_id` > last seen, always from start 0."""
    rows: list[dict[str, Any]] = []
    last_id = 0
    while True:
        page = client.data_page(uid, query={**query, "_id": {"$gt": last_id}}, limit=limit)
        rows.extend(page.results)
        if page.next is None or not page.results:
            return rows
        last_id = page.results[-1]["_id"]


def ids_of(rows: list[dict[str, Any]]) -> list[int]:
    return [row["_id"] for row in rows]


def data_requests(fake: KoboFake) -> list[dict[str, str]]:
    return [seen.params for seen in fake.requests if seen.path.endswith("/data/")]


# -- paging -----------------------------------------------------------------------------------------------------


def test_data_page_sends_explicit_limit_sort_and_format(fake: KoboFake, client: KoboClient) -> None:
    uid, _ = fill(fake, 3)
    client.data_page(uid)
    assert data_requests(fake) == [{"format": "json", "limit": "1000", "start": "0", "sort": '{"_id":1}'}]


def test_every_page_is_read_by_following_next(fake: KoboFake, client: KoboClient) -> None:
    uid, ids = fill(fake, 250)
    pages = scan(client, uid, limit=100)
    assert [len(p.results) for p in pages] == [100, 100, 50]
    assert {p.count for p in pages} == {250}
    assert [row["_id"] for p in pages for row in p.results] == ids
    assert pages[-1].next is None


def test_server_default_page_is_100(fake: KoboFake, url: str, raw: httpx.Client) -> None:
    uid, _ = fill(fake, 150)
    body = raw.get(f"/api/v2/assets/{uid}/data/").json()
    assert (body["count"], len(body["results"])) == (150, 100)
    assert body["next"] == f"{url}/api/v2/assets/{uid}/data/?limit=100&start=100"
    assert body["previous"] is None


def test_limit_is_capped_by_the_server_and_next_carries_the_cap(connect: Connect) -> None:
    fake = KoboFake(default_limit=25, max_limit=40)
    uid, ids = fill(fake, 100)
    with connect(fake) as client:
        pages = scan(client, uid, limit=1000)
    assert [len(p.results) for p in pages] == [40, 40, 20]
    assert "limit=40" in (pages[0].next or "")
    assert [row["_id"] for p in pages for row in p.results] == ids


def test_next_and_previous_links_keep_every_param_with_sorted_keys(fake: KoboFake, url: str, raw: httpx.Client) -> None:
    uid, _ = fill(fake, 30)
    query = '{"village": {"$exists": true}}'
    body = raw.get(f"/api/v2/assets/{uid}/data/", params={"start": 15, "query": query, "limit": 10, "format": "json"})
    encoded = quote_plus(query)
    base = f"{url}/api/v2/assets/{uid}/data/"
    assert body.json()["next"] == f"{base}?format=json&limit=10&query={encoded}&start=25"
    assert body.json()["previous"] == f"{base}?format=json&limit=10&query={encoded}&start=5"
    near_start = raw.get(f"/api/v2/assets/{uid}/data/", params={"limit": 10, "start": 5}).json()
    assert near_start["previous"] == f"{base}?limit=10"  # `start` is dropped, not set to 0
    last = raw.get(f"/api/v2/assets/{uid}/data/", params={"limit": 10, "start": 20}).json()
    assert last["next"] is None


def test_past_the_end_is_an_empty_page_without_next(fake: KoboFake, client: KoboClient) -> None:
    uid, _ = fill(fake, 10)
    page = client.data_page(uid, start=500, limit=100)
    assert (page.count, page.results, page.next) == (10, [], None)


@pytest.mark.parametrize(
    ("params", "body"),
    [
        ({"limit": "0"}, {"limit": "A positive integer is required"}),
        ({"limit": "many"}, {"limit": "A positive integer is required"}),
        ({"start": "-1"}, {"start": "A positive integer is required."}),
        ({"query": "{village"}, {"query": "Value must be valid JSON."}),
        ({"query": '{"village": {"$in": "v1"}}'}, ["Unsupported query"]),
        ({"count": "1"}, {"count": "This param is not implemented. Use `count` property of the response instead."}),
    ],
)
def test_bad_parameters_get_kpi_400_bodies(
    fake: KoboFake, raw: httpx.Client, params: dict[str, str], body: Any
) -> None:
    uid, _ = fill(fake, 1)
    response = raw.get(f"/api/v2/assets/{uid}/data/", params=params)
    assert (response.status_code, response.json()) == (400, body)


def test_an_undeployed_asset_is_refused(fake: KoboFake, client: KoboClient) -> None:
    uid = fake.add_asset(deployed=False)
    with pytest.raises(RequestRejected, match="has not been deployed"):
        client.data_page(uid)


# -- queries ----------------------------------------------------------------------------------------------------


@pytest.fixture
def villages(fake: KoboFake) -> tuple[str, dict[str, int]]:
    """Six submissions, one per village; `b` is approved, `c` has a two-member household."""
    uid = fake.add_asset()
    ids = {}
    for size, village in enumerate(["a", "b", "c", "Bd", "e", "f"], start=1):
        answers: dict[str, Any] = {"village": village, "household/size": size}
        if village == "c":
            answers["household/members"] = [
                {"household/members/name": "Amina", "household/members/age": 34},
                {"household/members/name": "Juma", "household/members/age": 9},
            ]
        ids[village] = fake.add_submission(uid, answers)["_id"]
    fake.set_validation_status(uid, ids["b"], "validation_status_approved")
    return uid, ids


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"village": "a"}, {"a"}),
        ({"village": {"$in": ["a", "b"]}}, {"a", "b"}),
        ({"village": {"$nin": ["a", "b"]}}, {"c", "Bd", "e", "f"}),
        ({"village": {"$ne": "a"}}, {"b", "c", "Bd", "e", "f"}),
        ({"village": {"$regex": "^b", "$options": "i"}}, {"b", "Bd"}),
        ({"village": {"$not": {"$regex": "^[a-c]"}}}, {"Bd", "e", "f"}),
        ({"household/size": {"$gte": "3", "$lt": "5"}}, {"c", "Bd"}),
        ({"household/size": {"$gt": 3}}, set()),  # answers are strings: a number never compares with them
        ({"$or": [{"village": "a"}, {"household/size": "6"}]}, {"a", "f"}),
        ({"$and": [{"village": {"$exists": True}}, {"household/members": {"$exists": True}}]}, {"c"}),
        ({"household/members": {"$elemMatch": {"household/members/age": "9"}}}, {"c"}),
        ({"_validation_status.uid": "validation_status_approved"}, {"b"}),
    ],
)
def test_query_operators_are_honoured(
    client: KoboClient, villages: tuple[str, dict[str, int]], query: dict[str, Any], expected: set[str]
) -> None:
    uid, _ = villages
    page = client.data_page(uid, query=query)
    assert {row["village"] for row in page.results} == expected
    assert page.count == len(expected)


@pytest.mark.parametrize(
    "query",
    [
        {"village": {"$eq": "a"}},
        {"household/members": {"$size": 2}},
        {"$where": "this.village == 'a'"},
        {"household.size": "1"},
        {"_id": {"$gt": "0"}},  # a string under an operator is compared as a string, so never to an int
    ],
)
def test_queries_kobo_does_not_understand_silently_match_nothing(
    raw: httpx.Client, villages: tuple[str, dict[str, int]], query: dict[str, Any]
) -> None:
    uid, _ = villages
    response = raw.get(f"/api/v2/assets/{uid}/data/", params={"query": json.dumps(query)})
    assert response.status_code == 200
    assert (response.json()["count"], response.json()["results"]) == (0, [])


def test_a_scalar_id_is_cast_to_int(raw: httpx.Client, villages: tuple[str, dict[str, int]]) -> None:
    uid, ids = villages
    body = raw.get(f"/api/v2/assets/{uid}/data/", params={"query": json.dumps({"_id": str(ids["c"])})}).json()
    assert [row["village"] for row in body["results"]] == ["c"]


@pytest.mark.parametrize(
    "query",
    [
        {"village": {"$eq": "a"}},
        {"household.size": "1"},
        {"_id": {"$gt": "0"}},
        {"_id": {"$in": [1, "2"]}},
        {"_submission_time": {"$gte": "2026-05-03T10:00:00Z"}},
        {"_submission_time": {"$gte": "2026-05-03T10:00:00+00:00"}},
    ],
)
def test_the_client_refuses_queries_kobo_would_silently_ignore(
    fake: KoboFake, client: KoboClient, query: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        client.data_page("aAnyAsset", query=query)
    assert fake.requests == []


def test_submission_times_compare_as_strings(fake: KoboFake, raw: httpx.Client) -> None:
    uid = fake.add_asset()
    fake.add_submission(uid, {"village": "a"}, submission_time=WINDOW_START)
    for since, count in [(WINDOW_START, 1), (WINDOW_START + "Z", 0), ("2026-05-03", 1), ("2026-05-03T10:00:01", 0)]:
        query = json.dumps({"_submission_time": {"$gte": since}})
        assert raw.get(f"/api/v2/assets/{uid}/data/", params={"query": query}).json()["count"] == count, since


def test_sort_orders_by_several_keys(fake: KoboFake, client: KoboClient) -> None:
    uid = fake.add_asset()
    for village in ["b", "a", "b", "a"]:
        fake.add_submission(uid, {"village": village})
    rows = client.data_page(uid, sort={"village": -1, "_id": 1}).results
    assert [row["village"] for row in rows] == ["b", "b", "a", "a"]
    assert rows[0]["_id"] < rows[1]["_id"] and rows[2]["_id"] < rows[3]["_id"]


def test_keyset_scan_over_a_submission_time_window(fake: KoboFake, client: KoboClient) -> None:
    uid = fake.add_asset()
    times = [
        "2026-05-03T09:59:59",
        WINDOW_START,
        WINDOW_START,
        WINDOW_START,
        "2026-05-03T10:00:01",
        "2026-05-04T08:00:00",
    ]
    ids = [fake.add_submission(uid, {"village": str(i)}, submission_time=t)["_id"] for i, t in enumerate(times)]
    rows = keyset(client, uid, {"_submission_time": {"$gte": WINDOW_START}}, limit=2)
    assert ids_of(rows) == ids[1:]
    cursors = [json.loads(params["query"])["_id"]["$gt"] for params in data_requests(fake)]
    assert cursors == [0, ids[2], ids[4]]
    assert all(type(cursor) is int for cursor in cursors)
    assert {params["start"] for params in data_requests(fake)} == {"0"}


def test_a_late_record_is_caught_by_the_look_back_window_not_by_an_exclusive_cursor(
    fake: KoboFake, client: KoboClient
) -> None:
    uid = fake.add_asset()
    early = fake.add_submission(uid, {"village": "early"}, submission_time="2026-05-03T10:00:05")["_id"]
    slow = fake.add_submission(uid, {"village": "slow"}, submission_time="2026-05-03T10:00:06", visible=False)["_id"]
    later = fake.add_submission(uid, {"village": "later"}, submission_time="2026-05-03T10:00:07")["_id"]
    first = keyset(client, uid, {"_submission_time": {"$gte": WINDOW_START}}, limit=10)
    assert ids_of(first) == [early, later]

    fake.reveal(uid, slow)
    exclusive = keyset(client, uid, {"_submission_time": {"$gt": first[-1]["_submission_time"]}}, limit=10)
    assert exclusive == []
    look_back = keyset(client, uid, {"_submission_time": {"$gte": WINDOW_START}}, limit=10)
    assert ids_of(look_back) == [early, slow, later]


def test_fields_projection_adds_forced_keys_and_hides_the_validation_status(fake: KoboFake, client: KoboClient) -> None:
    uid = fake.add_asset()
    _id = fake.add_submission(uid, {"village": "a", "household/size": 3})["_id"]
    status = fake.set_validation_status(uid, _id, "validation_status_on_hold")
    light = client.data_page(uid, fields=["_id", "village"]).results[0]
    assert set(light) == {"_id", "_uuid", "meta/rootUuid", "village", "_validation_status"}
    assert light["_validation_status"] == {}
    asked = client.data_page(uid, fields=["_validation_status"]).results[0]
    assert asked["_validation_status"] == status
    assert isinstance(status["timestamp"], int)
    assert (status["uid"], status["label"], status["by_whom"]) == ("validation_status_on_hold", "On Hold", "bob")


def test_validation_status_changes_are_found_by_timestamp(fake: KoboFake, client: KoboClient) -> None:
    uid, ids = fill(fake, 3)
    stamp = fake.set_validation_status(uid, ids[1], "validation_status_approved")["timestamp"]
    page = client.data_page(uid, query={"_validation_status.timestamp": {"$gte": stamp - 60}}, fields=["_id"])
    assert ids_of(page.results) == [ids[1]]


# -- edits and deletions ----------------------------------------------------------------------------------------


def test_an_edit_keeps_the_id_and_changes_the_uuid(fake: KoboFake, client: KoboClient) -> None:
    uid = fake.add_asset()
    before = fake.add_submission(uid, {"village": "a", "household/size": 3}, submission_time=WINDOW_START)
    fake.edit_submission(uid, before["_id"], {"household/size": 4})
    after = client.data_page(uid).results[0]
    assert (after["_id"], after["_submission_time"], after["meta/rootUuid"]) == (
        before["_id"],
        WINDOW_START,
        before["meta/rootUuid"],
    )
    assert after["_uuid"] != before["_uuid"]
    assert after["meta/instanceID"] == f"uuid:{after['_uuid']}"
    assert after["meta/deprecatedID"] == before["meta/instanceID"]
    assert after["household/size"] == "4"
    edited = client.data_page(uid, query={"meta/deprecatedID": {"$exists": True}}, fields=["_id"]).results
    assert ids_of(edited) == [before["_id"]]


def test_a_deletion_is_confirmed_by_get_submission(fake: KoboFake, client: KoboClient) -> None:
    uid, ids = fill(fake, 2)
    found = client.get_submission(uid, ids[0])
    assert found is not None and found["_id"] == ids[0]
    fake.delete_submission(uid, ids[0])
    assert client.get_submission(uid, ids[0]) is None
    assert ids_of(client.data_page(uid).results) == [ids[1]]


def test_a_hidden_asset_is_not_mistaken_for_a_deleted_submission(fake: KoboFake, client: KoboClient) -> None:
    fake.add_user("alice")
    uid = fake.add_asset(owner="alice")
    _id = fake.add_submission(uid, {"village": "a"})["_id"]
    with pytest.raises(NotFound):
        client.get_submission(uid, _id)


def test_a_404_that_is_not_kobos_own_raises(fake: KoboFake, client: KoboClient) -> None:
    uid, ids = fill(fake, 1)
    fake.fail_next(1, 404)  # e.g. a proxy's HTML page
    with pytest.raises(NotFound):
        client.get_submission(uid, ids[0])


def test_detail_by_id_or_root_uuid_and_hard_delete(fake: KoboFake, raw: httpx.Client) -> None:
    uid = fake.add_asset()
    record = fake.add_submission(uid, {"village": "a"})
    edited = fake.edit_submission(uid, record["_id"], {"village": "b"})
    root = record["meta/rootUuid"].removeprefix("uuid:")
    for key in (str(record["_id"]), root, edited["_uuid"]):
        assert raw.get(f"/api/v2/assets/{uid}/data/{key}/").json()["village"] == "b"
    assert raw.delete(f"/api/v2/assets/{uid}/data/{record['_id']}/").status_code == 204
    gone = raw.get(f"/api/v2/assets/{uid}/data/{record['_id']}/")
    assert (gone.status_code, gone.json()) == (404, {"detail": "Not found."})
    assert fake.submissions(uid) == []


def test_offset_paging_skips_a_row_when_one_is_deleted_mid_scan_and_keyset_does_not(
    fake: KoboFake, client: KoboClient
) -> None:
    def delete_first_row_after_first_page(uid: str, ids: list[int]) -> None:
        first_page = fake.data_requests + 1
        fake.between_pages(lambda n: fake.delete_submission(uid, ids[0]) if n == first_page else None)

    uid, ids = fill(fake, 30)
    delete_first_row_after_first_page(uid, ids)
    by_offset = [row["_id"] for page in scan(client, uid, limit=10) for row in page.results]
    assert by_offset == ids[:10] + ids[11:]  # the row that moved back onto page 1 is never read

    uid, ids = fill(fake, 30)
    delete_first_row_after_first_page(uid, ids)
    assert ids_of(keyset(client, uid, {}, limit=10)) == ids


# -- document shape ---------------------------------------------------------------------------------------------


def test_submission_documents_look_like_kobos(fake: KoboFake, client: KoboClient) -> None:
    uid = fake.add_asset()
    sent = {
        "village": "kibera_01",
        "household/size": 5,
        "household/members": [{"household/members/name": "Amina", "household/members/age": 34}],
        "location": "-1.3 36.8 1700 5",
    }
    fake.add_submission(uid, sent, submitted_by="enumerator1", attachments={"photo": "IMG_0001.jpg"})
    row = client.data_page(uid).results[0]
    asset = client.get_asset(uid)
    assert row["household/size"] == "5"
    assert row["household/members"] == [{"household/members/name": "Amina", "household/members/age": "34"}]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", row["_submission_time"])
    assert row["formhub/uuid"] == asset["deployment__uuid"]
    assert row["__version__"] == asset["deployed_version_id"]
    assert row["_xform_id_string"] == uid
    assert row["meta/instanceID"] == row["meta/rootUuid"] == f"uuid:{row['_uuid']}"
    assert (row["_status"], row["_submitted_by"], row["_validation_status"]) == ("submitted_via_web", "enumerator1", {})
    assert row["_geolocation"] == [-1.3, 36.8]
    (attachment,) = row["_attachments"]
    assert attachment["question_xpath"] == "photo" and attachment["is_deleted"] is False
    assert attachment["download_url"].startswith(f"{asset['url']}data/{row['_id']}/attachments/")
    assert "_tags" not in row and "_notes" not in row


def test_an_older_server_still_sends_tags_and_notes(connect: Connect) -> None:
    fake = KoboFake(legacy_system_keys=True)
    uid, _ = fill(fake, 1)
    with connect(fake) as client:
        row = client.data_page(uid).results[0]
    assert (row["_tags"], row["_notes"]) == ([], [])


def test_routes_need_the_trailing_slash_and_accept_json_suffixes(fake: KoboFake, raw: httpx.Client) -> None:
    uid, _ = fill(fake, 2)
    redirected = raw.get(f"/api/v2/assets/{uid}/data", params={"limit": 1})
    assert redirected.status_code == 301
    assert redirected.headers["location"] == f"/api/v2/assets/{uid}/data/?limit=1"
    assert raw.get(f"/api/v2/assets/{uid}/data.json").json()["count"] == 2
    assert raw.get("/api/v2/assets.json").json()["results"][0]["uid"] == uid
    assert raw.get(f"/api/v2/assets/{uid}.json").json()["content"]["survey"][0]["type"] == "start"
    gone = raw.get("/api/v1/data/")
    assert gone.status_code == 410 and "V1 API has been removed" in gone.json()["detail"]


def test_assets_are_listed_across_pages(connect: Connect) -> None:
    fake = KoboFake(default_limit=2)
    made = {fake.add_asset(f"form {i}") for i in range(5)}
    fake.add_user("alice")
    fake.add_asset("not mine", owner="alice")
    with connect(fake) as client:
        assert {asset["uid"] for asset in client.list_assets()} == made
        assert [asset["uid"] for asset in client.list_assets(q="asset_type:block")] == []


def test_links_to_another_origin_are_followed_on_ours(connect: Connect) -> None:
    fake = KoboFake(link_base="https://kf.example.org")
    uid, ids = fill(fake, 25)
    with connect(fake) as client:
        pages = scan(client, uid, limit=10)
    assert (pages[0].next or "").startswith(f"https://kf.example.org/api/v2/assets/{uid}/data/?")
    assert [row["_id"] for p in pages for row in p.results] == ids


# -- faults -----------------------------------------------------------------------------------------------------


def test_503_on_every_third_request_is_retried_and_counted(
    fake: KoboFake, client: KoboClient, sleeps: list[float]
) -> None:
    uid, ids = fill(fake, 250)
    fake.fail_every(3)
    pages = scan(client, uid, limit=50)
    assert [row["_id"] for p in pages for row in p.results] == ids
    assert fake.request_count == 7  # 5 pages; requests 3 and 6 failed
    assert client.retries == len(sleeps) == 2
    assert all(0 <= delay <= FAST.max_delay for delay in sleeps)


def test_429_retry_after_is_honoured(fake: KoboFake, client: KoboClient, sleeps: list[float]) -> None:
    uid, _ = fill(fake, 3)
    fake.fail_next(1, 429, retry_after="7")
    assert client.data_page(uid).count == 3
    assert sleeps == [7.0]
    assert client.retries == 1


def test_retries_run_out(fake: KoboFake, client: KoboClient, sleeps: list[float]) -> None:
    uid, _ = fill(fake, 3)
    fake.fail_every(1, 502)
    with pytest.raises(RetriesExhausted) as raised:
        client.data_page(uid)
    assert raised.value.status == 502
    assert fake.request_count == FAST.attempts
    assert len(sleeps) == client.retries == FAST.attempts - 1


def test_a_slow_server_times_out_and_the_retries_run_out(fake: KoboFake, connect: Connect) -> None:
    uid, _ = fill(fake, 1)
    fake.slow(0.3)
    with connect(fake, timeout=0.05) as client, pytest.raises(RetriesExhausted, match="ReadTimeout"):
        client.data_page(uid)


def test_a_bad_token_is_refused_without_showing_it(fake: KoboFake, url: str) -> None:
    uid, _ = fill(fake, 1)
    token = "0123456789abcdef0123456789abcdef01234567"
    with KoboClient(url, token, policy=FAST) as client:
        with pytest.raises(AuthenticationFailed) as raised:
            client.data_page(uid)
        assert raised.value.status == 401
        assert "Invalid token." in str(raised.value) and uid in str(raised.value)
        assert token not in str(raised.value) and token not in repr(client) and token not in raised.value.body
        assert client.retries == 0


def test_a_revoked_token_is_refused(fake: KoboFake, client: KoboClient) -> None:
    uid, _ = fill(fake, 1)
    client.data_page(uid)
    fake.revoke_token(fake.token)
    with pytest.raises(AuthenticationFailed, match="Invalid token"):
        client.data_page(uid)


def test_401_bodies_are_drfs(fake: KoboFake, url: str, raw: httpx.Client) -> None:
    uid, _ = fill(fake, 1)
    anonymous = httpx.get(f"{url}/api/v2/assets/{uid}/data/")
    assert (anonymous.status_code, anonymous.json()) == (
        401,
        {"detail": "Authentication credentials were not provided."},
    )
    wrong = raw.get(f"/api/v2/assets/{uid}/data/", headers={"Authorization": "Token nope"})
    assert (wrong.status_code, wrong.json()) == (401, {"detail": "Invalid token."})


@pytest.mark.parametrize(("kind", "problem"), [("json", "not JSON"), ("missing", "missing results"), ("bad_id", "_id")])
def test_a_malformed_page_raises_naming_the_asset_and_page(
    fake: KoboFake, client: KoboClient, kind: str, problem: str
) -> None:
    uid, _ = fill(fake, 250)
    fake.malform_page(2, kind)
    first = client.data_page(uid, limit=100)
    with pytest.raises(MalformedResponse) as raised:
        client.follow(first.next or "")
    message = str(raised.value)
    assert uid in message and "start=100" in message and problem in message


def test_a_page_missing_count_or_next_is_refused(fake: KoboFake, client: KoboClient) -> None:
    uid, _ = fill(fake, 5)
    for key in ("count", "next"):
        fake.malform_page(1, "missing", key=key)
        with pytest.raises(MalformedResponse, match=f"missing {key}"):
            client.data_page(uid)


def test_bad_arguments_fail_before_any_request(fake: KoboFake, client: KoboClient) -> None:
    for call in (
        lambda: client.data_page("aX", limit=0),
        lambda: client.data_page("aX", start=-1),
        lambda: client.get_submission("aX", "12"),  # type: ignore[arg-type]
        lambda: client.follow("https://kf.example.org/api/v2/assets/"),
    ):
        with pytest.raises(ValueError, match=r"\S"):
            call()
    with pytest.raises(ValueError, match="token"):
        KoboClient("https://kf.example.org", "two words")
    assert fake.requests == []


def test_a_redirect_is_reported_not_followed(fake: KoboFake, url: str, client: KoboClient) -> None:
    uid, _ = fill(fake, 1)
    with pytest.raises(MalformedResponse, match="unexpected redirect to /api/v2/assets/"):
        client.follow(f"{url}/api/v2/assets/{uid}/data?limit=1")  # Django's APPEND_SLASH answers 301
