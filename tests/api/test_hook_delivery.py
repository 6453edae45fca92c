"""The Kobo webhook under load and abuse: the secret and the size cap are checked before the body is read, the
body is read as it streams, and the API keeps answering while a delivery is being stored.

Deliveries go through the ASGI interface with a body handed over chunk by chunk, so a test can count the bytes
the application actually read; the /health test runs a real server on 127.0.0.1.
"""

import datetime as dt
import json
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from analysis.quality import quality_findings
from api.app import create_app
from catalogue.model import Catalogue
from sera.db import session_scope
from sync.connections import get_connection, set_hook_secret
from sync.normalize import BEYOND_INT64, ESCAPED, LONG_KEY, NOT_FINITE
from sync.tables import Submission
from tests.fakes.loopback import serve
from tests.worlds import KoboWorld, add_people

URL = "/api/v1/hooks/kobo/kobo"
SECRET = {"X-Sera-Hook-Secret": "s3cret"}
MB = 1_000_000


@pytest.fixture
def world(kobo_world: KoboWorld) -> KoboWorld:
    with session_scope(kobo_world.engine) as session:
        set_hook_secret(get_connection(session, "kobo"), "s3cret")
    return kobo_world


def big_json(size: int, chunk: int) -> Iterator[bytes]:
    """A JSON object of about `size` bytes, produced lazily `chunk` bytes at a time."""
    yield b'{"_id": 1, "padding": "'
    for _ in range(size // chunk):
        yield b"a" * chunk
    yield b'"}'


def deliver(app: FastAPI, path: str, headers: dict[str, str], chunks: Iterator[bytes]) -> tuple[int, Any, int]:
    """POST through the ASGI interface, the body handed over one chunk per `receive`; returns the status, the
    JSON answer and how many body bytes the application read."""
    read = 0
    pending = iter(chunks)
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        chunk = next(pending, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        read += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json")]
        + [(name.lower().encode(), value.encode()) for name, value in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    anyio.run(app, scope, receive, send)
    status = next(m["status"] for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return status, json.loads(body), read


def test_a_delivery_without_the_secret_is_refused_before_its_body_is_read(world: KoboWorld) -> None:
    app = create_app(world.settings)
    for headers, path, expected in (
        ({}, URL, 401),
        ({"X-Sera-Hook-Secret": "nope"}, URL, 401),
        ({"Content-Length": str(29 * MB)}, URL, 401),
        (SECRET, "/api/v1/hooks/kobo/nowhere", 404),
    ):
        status, answer, read = deliver(app, path, headers, big_json(29 * MB, MB))
        assert (status, read) == (expected, 0)
        assert set(answer) == {"error", "detail"}


def test_an_oversize_delivery_is_refused_as_it_streams_in(world: KoboWorld) -> None:
    limit = 100_000
    app = create_app(world.settings.model_copy(update={"hook_max_bytes": limit}))
    status, answer, read = deliver(app, URL, SECRET, big_json(10 * MB, 16_384))
    assert (status, answer["error"]) == (413, "payload_too_large")
    assert limit < read <= limit + 16_384  # stopped at the first chunk past the cap, not at the end
    announced = {**SECRET, "Content-Length": str(10 * MB)}
    status, answer, read = deliver(app, URL, announced, big_json(10 * MB, 16_384))
    assert (status, answer["error"], read) == (413, "payload_too_large", 0)
    [row] = add_people(world.fake, world.asset, 1)
    encoded = json.dumps(row).encode()
    small = iter([encoded[: len(encoded) // 2], encoded[len(encoded) // 2 :]])
    assert deliver(app, URL, SECRET, small)[:2] == (202, {"status": "new"})


def test_a_body_that_is_not_json_is_a_bad_payload(world: KoboWorld) -> None:
    app = create_app(world.settings)
    for body in (b"{not json", b"[" * 100_000, b"\xff\xfe\x00"):
        status, answer, _read = deliver(app, URL, SECRET, iter([body]))
        assert (status, answer["error"]) == (400, "bad_payload")


def test_a_delivery_that_is_no_submission_gets_a_4xx_with_the_error_shape(world: KoboWorld) -> None:
    """Whatever it quotes back from the body (a lone surrogate included) can be sent as the answer."""
    [row] = add_people(world.fake, world.asset, 1)
    cases = [
        ({"_id": "\ud800"}, 400),
        ({"_id": float("inf")}, 400),
        ({**row, "_xform_id_string": ["list"]}, 404),
        ({**row, "_xform_id_string": "a\ud800"}, 404),
    ]
    with TestClient(create_app(world.settings)) as api:
        for payload, status in cases:
            answer = api.post(URL, content=json.dumps(payload), headers=SECRET)
            assert answer.status_code == status, payload
            assert set(answer.json()) == {"error", "detail"}


def waiting_for_submission_lock(engine: Engine) -> bool:
    with engine.connect() as connection:
        query = "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'submission'::regclass"
        return bool(connection.execute(text(query)).scalar())


def test_health_answers_while_a_big_delivery_is_being_stored(world: KoboWorld, engine: Engine) -> None:
    """A ~1.5 MB delivery is read, parsed, then waits to write while another transaction holds the submission
    table: /health must answer meanwhile (the event loop is free), and the delivery completes once let go."""
    if engine.dialect.name != "postgresql":
        pytest.skip("that a writer is waiting can only be seen on PostgreSQL (pg_locks)")
    [row] = add_people(world.fake, world.asset, 1, notes="n" * 1_500_000)
    with serve(create_app(world.settings)) as url, ThreadPoolExecutor(1) as pool, engine.connect() as holder:
        holder.execute(text("LOCK TABLE submission IN SHARE MODE"))
        delivery = pool.submit(httpx.post, url + URL, json=row, headers=SECRET, timeout=60)
        pause = threading.Event()
        while not waiting_for_submission_lock(engine) and not delivery.done():
            pause.wait(0.05)
        assert not delivery.done(), delivery.result().text
        health = httpx.get(url + "/api/v1/health", timeout=30)
        assert health.status_code in (200, 503)  # answered (503: no catalogue is loaded in this test)
        assert not delivery.done()
        holder.rollback()
        assert delivery.result().json() == {"status": "new"}


def test_odd_values_in_a_delivery_are_stored_never_a_server_error(
    world: KoboWorld, engine: Engine, minimal_catalogue: Catalogue
) -> None:
    """`_id` of 10^30, a lone UTF-16 surrogate (PostgreSQL refuses it), NaN, values longer than the old columns:
    each delivery is stored (202), the rest of the JSON as sent, and what could not be kept is a finding."""
    rows = add_people(world.fake, world.asset, 6)
    bodies = [
        json.dumps({**rows[0], "_id": 10**30}),
        json.dumps({**rows[1], "sex": "f\ud800"}),  # json.dumps writes the lone surrogate as the escape \ud800
        json.dumps({**rows[2], "age": float("nan")}),  # the token NaN, which Python's parser reads back
        json.dumps({**rows[3], "start": "2026-05-04T08:00:00" + "x" * 100}),
        json.dumps({**rows[4], "_validation_status": {"uid": "validation_status_" + "x" * 100}}),
        json.dumps({**rows[5], "meta/rootUuid": "uuid:" + secrets.token_hex(1500)}),
    ]
    with TestClient(create_app(world.settings)) as api:
        for body in bodies:
            answer = api.post(URL, content=body, headers={**SECRET, "Content-Type": "application/json"})
            assert (answer.status_code, answer.json()) == (202, {"status": "new"}), body[:200]
    with Session(engine) as session:
        stored = {row.remote_id: row for row in session.exec(select(Submission))}
    assert len(stored) == 6
    assert stored[str(10**30)].remote_seq is None
    assert stored[str(rows[1]["_id"])].data["sex"] == "f\\ud800"
    assert stored[str(rows[2]["_id"])].data["age"] == "NaN"
    assert stored[str(rows[3]["_id"])].device_start == "2026-05-04T08:00:00" + "x" * 100
    assert stored[str(rows[4]["_id"])].review_state == "validation_status_" + "x" * 100
    assert {remote_id: row.unstorable for remote_id, row in stored.items() if row.unstorable} == {
        str(10**30): {"_id": BEYOND_INT64},
        str(rows[1]["_id"]): {"sex": ESCAPED},
        str(rows[2]["_id"]): {"age": NOT_FINITE},
        str(rows[5]["_id"]): {"meta/rootUuid": LONG_KEY},
    }
    with Session(engine) as session:
        now = dt.datetime.now(dt.UTC)
        found = quality_findings(session, minimal_catalogue, f"{now.year}Q{(now.month - 1) // 3 + 1}")
    [finding] = [f for f in found if f.check == "unstorable_value"]
    assert set(finding.submissions) == {str(10**30), *(str(rows[i]["_id"]) for i in (1, 2, 5))}
