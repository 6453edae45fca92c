"""Who may call what: one table with every route of the app and the status each caller gets.

Callers: no token, a token of each role (admin, staff, partner of `PARTNER`, viewer), and an admin token that was
revoked or has expired. The table must list every route the app registers (`test_every_route_is_in_the_table`),
so a new endpoint cannot land without its row. Rows of routes still being written are skipped while the route is
absent, and run as soon as it is registered.

Beyond the status, every answer is searched: a partner never sees another partner's code or organisation; no
one but the SERA officer reading raw submissions ever gets a person key or the question names and answers of
`pii` and `sensitive` questions; a suppressed cell never carries a figure.
"""

import csv
import datetime as dt
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlmodel import Session, col, select

import catalogue as catalogue_module
from analysis.tables import Fact
from api.app import create_app
from catalogue.model import walk_questions
from catalogue.validation import read_catalogue
from sera.settings import DEFAULT_CATALOGUE, Settings
from sera.tokens import create_token, revoke_token
from sync.tables import RemoteForm, Submission
from tests.api.conftest import PARTNER

CALLERS = ("none", "admin", "staff", "partner", "viewer", "revoked", "expired")
DOCS = {"/docs", "/docs/oauth2-redirect", "/redoc", "/api/v1/openapi.json"}
"""The only routes left out of the table: documentation, which serves no data."""
V1 = "/api/v1"
PERIOD = "2027Q2"
ISSUED = "2026Q3"
"""A quarter of the demo data that is over, so a report of it can be issued."""
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

OPEN = dict.fromkeys(CALLERS, 200)
"""A route that reads no token: everyone gets the same answer."""


def token(admin: int, staff: int, partner: int, viewer: int) -> dict[str, int]:
    """A route that needs a token: 401 without one, or with a revoked or expired one."""
    return {
        "none": 401,
        "admin": admin,
        "staff": staff,
        "partner": partner,
        "viewer": viewer,
        "revoked": 401,
        "expired": 401,
    }


@dataclass(frozen=True)
class Case:
    method: str
    route: str
    """The path as the app registers it."""
    expect: Mapping[str, int]
    url: str = ""
    """The request path when it differs from `route`: `{form}` and `{media}` are filled from the demo world."""
    params: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    data: bool = False
    """Returns programme data to a partner (searched for other partners)."""
    note: str = ""

    @property
    def id(self) -> str:
        return f"{self.method} {self.route}" + (f" ({self.note})" if self.note else "")


CASES = [
    Case("GET", f"{V1}/health", OPEN),
    Case("GET", f"{V1}/results", OPEN),
    Case("GET", f"{V1}/indicators", OPEN),
    Case("GET", f"{V1}/indicators/{{code}}", OPEN, url=f"{V1}/indicators/R1.3-1"),
    Case(
        "GET",
        f"{V1}/indicators/{{code}}/values",
        token(200, 200, 200, 200),
        url=f"{V1}/indicators/R1.3-1/values",
        params={"by": "sex"},
        data=True,
    ),
    Case(
        "GET",
        f"{V1}/indicators/{{code}}/values",
        token(200, 200, 200, 200),
        url=f"{V1}/indicators/R1.3-5/values",
        params={"by": "profile", "format": "csv"},
        data=True,
        note="csv",
    ),
    Case(
        "GET",
        f"{V1}/indicators/{{code}}/values",
        token(200, 200, 422, 422),
        url=f"{V1}/indicators/R1.3-5/values",
        params={"by": "profile,region", "format": "csv"},
        data=True,
        note="csv, a pair of splits: the whole cross only for the programme's own staff",
    ),
    Case(
        "GET",
        f"{V1}/indicators/{{code}}/values",
        token(200, 200, 403, 200),
        url=f"{V1}/indicators/OS-1/values",
        params={"by": "sex"},
        data=True,
        note="not split by partner",
    ),
    Case(
        "GET",
        f"{V1}/indicators/{{code}}/values",
        token(200, 200, 403, 200),
        url=f"{V1}/indicators/R1.3-1/values",
        params={"partner": "SM-02"},
        data=True,
        note="another partner's",
    ),
    Case("GET", f"{V1}/itt", token(200, 200, 200, 200), params={"period": PERIOD}, data=True),
    Case("GET", f"{V1}/forms", OPEN),
    Case("GET", f"{V1}/forms/{{form_id}}", OPEN, url=f"{V1}/forms/attendance"),
    Case("GET", f"{V1}/forms/{{form_id}}.xlsx", OPEN, url=f"{V1}/forms/attendance.xlsx"),
    Case("GET", f"{V1}/forms/{{form_id}}.xml", OPEN, url=f"{V1}/forms/attendance.xml"),
    Case("GET", f"{V1}/forms/{{form_id}}/media/{{name}}", OPEN, url=f"{V1}/forms/{{form}}/media/{{media}}"),
    Case("GET", f"{V1}/submissions", token(200, 403, 200, 403), params={"limit": "1000"}, data=True),
    Case(
        "POST",
        f"{V1}/sync/runs",
        token(404, 403, 403, 403),
        body={"connection": "demo"},
        note="the demo connection is never pulled: 404, no server is reached",
    ),
    Case("GET", f"{V1}/sync/runs", token(200, 200, 403, 403)),
    Case("GET", f"{V1}/sync/status", token(200, 200, 403, 403)),
    Case(
        "POST",
        f"{V1}/hooks/kobo/{{connection}}",
        dict.fromkeys(CALLERS, 404),
        url=f"{V1}/hooks/kobo/demo",
        body={},
        note="authenticated by its hook secret, not a token; demo is no Kobo connection",
    ),
    Case(
        "GET",
        f"{V1}/data-quality",
        token(200, 200, 200, 403),
        params={"period": PERIOD},
        data=True,
    ),
    Case("GET", f"{V1}/reports/quarterly", token(200, 200, 200, 403), data=True),
    Case(
        "GET",
        f"{V1}/reports/quarterly/{{period}}.xlsx",
        token(200, 200, 200, 403),
        url=f"{V1}/reports/quarterly/{PERIOD}.xlsx",
        data=True,
    ),
    Case(
        "POST",
        f"{V1}/reports/quarterly/{{period}}/issues",
        token(201, 403, 403, 403),
        url=f"{V1}/reports/quarterly/{ISSUED}/issues",
    ),
]


def routes_of(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves, documentation left out."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before included routers were kept apart
        contexts: Any = app.routes
    else:
        contexts = iter_route_contexts(app.routes)
    found = set()
    for route in contexts:
        path = getattr(route, "path", None)
        if path is None or path in DOCS:
            continue
        found |= {(method, path) for method in (getattr(route, "methods", None) or {"GET"}) - {"HEAD", "OPTIONS"}}
    return found


REGISTERED = routes_of(create_app(Settings(_env_file=None, database_url="sqlite://")))  # type: ignore[call-arg]


def test_every_route_is_in_the_table() -> None:
    listed = {(case.method, case.route) for case in CASES}
    missing = sorted(REGISTERED - listed)
    assert not missing, f"routes without a row in CASES (add one with the status of every caller): {missing}"
    stale = sorted(listed - REGISTERED)
    assert not stale, f"rows of routes the app no longer has: {stale}"


def test_the_table_is_consistent() -> None:
    for case in CASES:
        assert set(case.expect) == set(CALLERS), case.id
        reads_token = case.expect["none"] == 401
        # Revoked and expired tokens are refused wherever a token is read, and nowhere else is one looked at.
        assert (case.expect["revoked"] == 401) == reads_token == (case.expect["expired"] == 401), case.id
        if not reads_token:
            assert len(set(case.expect.values())) == 1, f"{case.id}: a route that reads no token answers all alike"


@dataclass
class World:
    client: TestClient
    headers: dict[str, dict[str, str]]
    fill: dict[str, str]
    others: set[str]
    """Partner codes other than `PARTNER`."""
    protected_names: set[str]
    protected_values: set[str]


@pytest.fixture
def world(api: tuple[TestClient, dict[str, dict[str, str]]], session: Session) -> Iterator[World]:
    client, role_headers = api
    revoked, revoked_token = create_token(session, "admin", label="revoked")
    assert revoked.id is not None and revoke_token(session, revoked.id)
    expired, expired_token = create_token(session, "admin", days=1, label="expired")
    expired.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    assert expired.expires_at is not None and expired.expires_at < dt.datetime.now(dt.UTC)
    session.commit()
    headers = {
        "none": {},
        **role_headers,
        "revoked": {"Authorization": f"Bearer {revoked_token}"},
        "expired": {"Authorization": f"Bearer {expired_token}"},
    }
    forms = client.get(f"{V1}/forms").json()["items"]
    with_media = next(f for f in forms if f["media"])
    catalogue = read_catalogue(DEFAULT_CATALOGUE)
    partners = next(d for d in catalogue.dimensions if d.code == "partner")
    names, values = _protected(session, catalogue)
    yield World(
        client=client,
        headers=headers,
        fill={"form": with_media["form_id"], "media": with_media["media"][0]},
        others={v.code for v in partners.values} - {PARTNER, "unknown"},
        protected_names=names,
        protected_values=values,
    )


def _protected(session: Session, catalogue: Any) -> tuple[set[str], set[str]]:
    """The names of `pii` and `sensitive` questions, and the answers people gave to the free-text ones (names,
    phone numbers, descriptions) with every person key: what must never leave the officer's view."""
    names: set[str] = {"person_key"}
    free: set[str] = set()
    for form in catalogue.forms:
        for _path, question in walk_questions(form.questions):
            if question.pii or question.sensitive:
                names.add(question.name)
                if question.type in ("text", "integer", "decimal", "date"):
                    free.add(question.name)
    values: set[str] = set()

    def collect(data: Any) -> None:
        if isinstance(data, dict):
            for key, value in data.items():
                if str(key).rsplit("/", 1)[-1] in free and not isinstance(value, dict | list):
                    values.add(str(value))
                collect(value)
        elif isinstance(data, list):
            for item in data:
                collect(item)

    query = select(Submission.data).join(RemoteForm, col(RemoteForm.id) == Submission.remote_form_id)
    for data in session.exec(query):
        collect(data)
    values = {v for v in values if len(v) >= 3 and not (v.isdigit() and len(v) < 9)} - _public_words()
    values |= {key for key in session.exec(select(Fact.person_key).distinct()) if key}
    assert len(values) > 100, "the demo data has names, phones and person keys to look for"
    return names, values


def _public_words() -> set[str]:
    """Cells of the reference lists the forms publish (communes, provinces, regions): a first name that is also a
    commune's name (Naima) cannot be told apart there, so such names are not searched for (nor are numbers
    shorter than a phone number, birth years and ages, which figures would match)."""
    reference = Path(catalogue_module.__file__).parent / "reference"
    return {
        cell.strip()
        for path in reference.rglob("*.csv")
        for row in csv.reader(io.StringIO(path.read_text(encoding="utf-8")))
        for cell in row
    }


def _leaves(data: Any) -> Iterator[tuple[str | None, Any]]:
    """(key, value) of every leaf, and (key, None) for every key, of a JSON document."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield str(key), None
            for inner_key, leaf in _leaves(value):
                yield (inner_key if inner_key is not None else str(key)), leaf
    elif isinstance(data, list):
        for item in data:
            yield from _leaves(item)
    else:
        yield None, data


def _texts(response: Any) -> tuple[Any, list[str]]:
    """The JSON document (None if not JSON) and every text a reader sees in the answer, whatever its format."""
    kind = response.headers.get("content-type", "")
    if kind.startswith("application/json"):
        document = response.json()
        return document, [str(v) for _k, v in _leaves(document) if v is not None] + [
            k for k, _v in _leaves(document) if k is not None
        ]
    if kind.startswith("text/csv"):
        return None, [cell for row in csv.reader(io.StringIO(response.text)) for cell in row]
    if kind.startswith(XLSX):
        book = load_workbook(io.BytesIO(response.content), read_only=True)
        return None, [str(v) for sheet in book for row in sheet.iter_rows(values_only=True) for v in row if v]
    if "xml" in kind:
        root = ET.fromstring(response.content)
        return None, [t for node in root.iter() for t in (node.text, node.tail, *node.attrib.values()) if t]
    return None, [response.text]


def _problems(case: Case, caller: str, response: Any, world: World) -> list[str]:
    """What a successful answer must not contain for this caller."""
    document, texts = _texts(response)
    problems = []
    raw_for_officer = case.route == f"{V1}/submissions" and caller == "admin"
    if not raw_for_officer:
        if document is not None:
            keys = {k.rsplit("/", 1)[-1] for k, v in _leaves(document) if k is not None and v is None}
            if keys & world.protected_names:
                problems.append(f"person-level fields {sorted(keys & world.protected_names)}")
        seen = set(texts) & world.protected_values
        if seen:
            problems.append(f"{len(seen)} person-level answers or person keys, e.g. {sorted(seen)[:2]}")
    if caller == "partner" and case.data:
        others = sorted({code for text in texts for code in world.others if code in text})
        if others:
            problems.append(f"other partners' codes {others}")
        if document is not None:
            organisations = {
                v
                for k, v in _leaves(document)
                if k is not None and k.rsplit("/", 1)[-1] in ("partner", "organisation") and isinstance(v, str)
            }
            if organisations - {PARTNER}:
                problems.append(f"organisation fields {sorted(organisations - {PARTNER})}")
            foreign = [cell for cell in _with_dims(document) if cell["dims"].get("partner") != PARTNER]
            if foreign:
                problems.append(f"{len(foreign)} cells not restricted to its organisation, e.g. {foreign[0]['dims']}")
    if caller in ("partner", "viewer") and document is not None:
        problems += _figures_of_suppressed_cells(document)
    return problems


def _with_dims(document: Any) -> Iterator[dict[str, Any]]:
    """Every indicator cell (an object with `dims`) of a JSON document."""
    if isinstance(document, dict):
        if isinstance(document.get("dims"), dict):
            yield document
        for value in document.values():
            yield from _with_dims(value)
    elif isinstance(document, list):
        for item in document:
            yield from _with_dims(item)


def _figures_of_suppressed_cells(document: Any) -> list[str]:
    found = []
    if isinstance(document, dict):
        if document.get("suppressed") is True:
            figures = {k: document.get(k) for k in ("value", "numerator", "denominator", "achievement")}
            if any(v is not None for v in figures.values()) or document.get("n"):
                found.append(f"a suppressed cell with figures: {json.dumps(document)[:200]}")
        for value in document.values():
            found += _figures_of_suppressed_cells(value)
    elif isinstance(document, list):
        for item in document:
            found += _figures_of_suppressed_cells(item)
    return found


def _check(case: Case, world: World) -> list[str]:
    """Every caller's status and answer for one row; what went wrong, if anything."""
    url = (case.url or case.route).format(**world.fill)
    failures = []
    for caller in CALLERS:
        response = world.client.request(
            case.method, url, params=dict(case.params), json=case.body, headers=world.headers[caller]
        )
        expected = case.expect[caller]
        if response.status_code != expected:
            failures.append(f"{caller}: {response.status_code} instead of {expected}: {response.text[:200]}")
            continue
        if expected == 401 and response.headers.get("WWW-Authenticate") != "Bearer":
            failures.append(f"{caller}: a 401 without `WWW-Authenticate: Bearer`")
        if 200 <= expected < 300:
            failures += [f"{caller}: {problem}" for problem in _problems(case, caller, response, world)]
    return [f"{case.id}: {failure}" for failure in failures]


def test_each_caller_gets_the_status_of_the_table_and_nothing_it_may_not_see(world: World) -> None:
    """Every row of the table (one demo world for all: it takes seconds to build)."""
    failures = [failure for case in CASES for failure in _check(case, world)]
    assert not failures, "\n".join(failures)
