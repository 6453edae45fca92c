"""CentralClient against the fake Central over real HTTP: paging, windows, edits, deletes, faults, auth."""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
import pytest

from sync.http import AuthenticationFailed, MalformedResponse, RetriesExhausted, RetryPolicy, ServerFailed
from sync.odk import CentralClient, ODataPage
from tests.fakes.loopback import AppSlot
from tests.fakes.odk_central import CentralFake, make_xform

EMAIL = "sync@example.org"
PASSWORD = "Tr0ub4dor&3-do-not-log"
FORM = "suivi_activites"


@dataclass
class Central:
    """One fake server on a loopback port, its project, and a sleep that records instead of sleeping."""

    fake: CentralFake
    url: str
    project: int
    sleeps: list[float] = field(default_factory=list)

    def client(self, password: str = PASSWORD, **options: object) -> CentralClient:
        return CentralClient(self.url, EMAIL, password, sleep=self.sleeps.append, **options)  # type: ignore[arg-type]

    def submit(self, n: int, form: str = FORM) -> list[str]:
        """N submissions, oldest first; returns their `__id`s."""
        return [
            self.fake.add_submission(self.project, form, {"name": f"p{i}", "age": 20 + i % 50})["__id"]
            for i in range(n)
        ]

    def odata_requests(self) -> list[httpx.URL]:
        return [
            httpx.URL(f"{self.url}{r.path}?{r.query}")
            for r in self.fake.requests
            if r.method == "GET" and ".svc/" in r.path
        ]


@pytest.fixture
def start(slot: tuple[AppSlot, str]) -> Callable[..., Central]:
    """`start(version)` → a served fake Central with one user, one project and the form FORM published."""

    def start(version: str = "2026.2") -> Central:
        fake = CentralFake(version)
        fake.add_user(EMAIL, PASSWORD)
        project = fake.add_project()
        fake.add_form(project, make_xform(FORM, "2026.1"))
        forwarding, url = slot
        forwarding.app = fake.app
        return Central(fake, url, project)

    return start


@pytest.fixture
def central(start) -> Central:
    return start("2026.2")


def walk(client: CentralClient, project: int, form: str = FORM, **options: object) -> list[ODataPage]:
    return list(client.pages(project, form, **options))


def ids(pages: list[ODataPage]) -> list[str]:
    return [row["__id"] for page in pages for row in page.value]


def stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def window(moment: datetime) -> str:
    """The engine's cursor filter: `updatedAt` is null until a first change, so both fields are needed."""
    return f"__system/submissionDate ge {stamp(moment)} or __system/updatedAt ge {stamp(moment)}"


# -- paging ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["2024.2", "2026.2"])
def test_pages_through_2500_rows_with_top_and_next_link(start, version: str) -> None:
    central = start(version)
    added = central.submit(2500)
    with central.client() as client:
        pages = walk(client, central.project, top=1000, count=True)

    assert [len(page.value) for page in pages] == [1000, 1000, 500]
    assert ids(pages) == added[::-1]  # newest first, each row once
    assert {page.count for page in pages} == {2500}
    requests = central.odata_requests()
    assert len(requests) == 3
    assert all(r.params["$top"] == "1000" and "$orderby" not in r.params for r in requests)
    assert ["$skiptoken" in r.params for r in requests] == [False, True, True]


def test_rows_arriving_between_pages_do_not_shift_the_walk(central: Central) -> None:
    added = central.submit(250)
    central.fake.between_pages = lambda n: central.submit(7) if n == 1 else None
    with central.client() as client:
        pages = walk(client, central.project, top=100)

    assert ids(pages) == added[::-1]  # the keyset cursor neither repeats nor skips


@pytest.mark.parametrize("version", ["2024.2", "2026.2"])
def test_an_empty_page_ends_the_walk_even_with_a_next_link(start, version: str) -> None:
    central = start(version)
    central.submit(3)
    with central.client() as client:
        page = client.odata_page(central.project, FORM, top=0, count=True)

    assert page == ODataPage(value=[], next_link=None, count=3)  # v2024.2 links on from an empty page


def test_next_link_is_followed_on_our_own_host(central: Central) -> None:
    """Central writes links with its configured domain; the token must stay on the host we were given."""
    central.fake.public_url = "https://central.example.org"
    added = central.submit(250)
    with central.client() as client:
        pages = walk(client, central.project, top=100)

    assert pages[0].next_link is not None and pages[0].next_link.startswith("https://central.example.org/v1/")
    assert ids(pages) == added[::-1]
    assert central.sleeps == []


# -- windows, edits, review states, deletes ------------------------------------------------------------------------


def test_window_catches_new_and_edited_rows_only(central: Central) -> None:
    old = central.submit(3)
    since = central.fake.clock.advance(timedelta(seconds=1))
    edit = central.fake.edit_submission(central.project, FORM, old[0], {"name": "corrected", "age": 41})
    new = central.submit(1)
    with central.client() as client:
        changed = {row["__id"]: row for row in client.odata_page(central.project, FORM, filter=window(since)).value}
        submitted_only = client.odata_page(
            central.project, FORM, filter=f"__system/submissionDate ge {stamp(since)}"
        ).value

    assert set(changed) == {old[0], new[0]}
    edited = changed[old[0]]
    assert edited["name"] == "corrected" and edited["age"] == 41
    assert edited["meta"] == {"instanceID": edit["meta"]["instanceID"]} != {"instanceID": old[0]}
    assert edited["__system"]["edits"] == 1 and edited["__system"]["reviewState"] == "edited"
    assert changed[new[0]]["__system"]["updatedAt"] is None  # null until a first change
    assert [row["__id"] for row in submitted_only] == new  # why the window needs both fields


def test_review_state_change_bumps_updated_at(central: Central) -> None:
    (instance,) = central.submit(1)
    since = central.fake.clock.advance(timedelta(seconds=1))
    with central.client() as client:
        before = client.odata_page(central.project, FORM, filter=window(since)).value
        central.fake.set_review_state(central.project, FORM, instance, "approved")
        after = client.odata_page(central.project, FORM, filter=window(since)).value

    assert before == []
    assert [row["__id"] for row in after] == [instance]
    assert after[0]["__system"]["reviewState"] == "approved"
    assert after[0]["__system"]["updatedAt"] > after[0]["__system"]["submissionDate"]


def test_delete_shows_through_deleted_at_on_2026(central: Central) -> None:
    kept, gone = central.submit(2)
    since = central.fake.clock.advance(timedelta(seconds=1))
    central.fake.delete_submission(central.project, FORM, gone)
    with central.client() as client:
        assert client.supports_deleted_at(central.project, FORM) is True
        live = client.odata_page(central.project, FORM).value
        deleted = client.odata_page(
            central.project, FORM, filter=f"__system/deletedAt ge {stamp(since)}", select="__id,__system"
        ).value
        changed = client.odata_page(central.project, FORM, filter=window(since)).value

    assert [row["__id"] for row in live] == [kept]
    assert [row["__id"] for row in deleted] == [gone]
    assert deleted[0]["__system"]["deletedAt"] is not None
    assert changed == []  # a delete does not touch updatedAt


def test_2024_has_no_deleted_at_and_the_probe_is_cached(start) -> None:
    central = start("2024.2")
    kept, gone = central.submit(2)
    central.fake.delete_submission(central.project, FORM, gone)
    with central.client() as client:
        first = client.supports_deleted_at(central.project, FORM)
        second = client.supports_deleted_at(central.project, FORM)
        live = client.odata_page(central.project, FORM).value
        with pytest.raises(ServerFailed, match=r"501\.5"):
            client.odata_page(central.project, FORM, filter="__system/deletedAt ne null")

    assert (first, second) == (False, False)
    assert sum("deletedAt" in r.params.get("$filter", "") for r in central.odata_requests()) == 2  # probe + the try
    assert [row["__id"] for row in live] == [kept]
    assert "deletedAt" not in live[0]["__system"]


def test_restore_is_invisible_to_both_filters(central: Central) -> None:
    """Documented for reconciliation: only a full id scan notices a restored submission."""
    (instance,) = central.submit(1)
    central.fake.delete_submission(central.project, FORM, instance)
    since = central.fake.clock.advance(timedelta(seconds=1))
    central.fake.restore_submission(central.project, FORM, instance)
    with central.client() as client:
        changed = client.odata_page(central.project, FORM, filter=window(since)).value
        deleted = client.odata_page(central.project, FORM, filter=f"__system/deletedAt ge {stamp(since)}").value
        everything = client.odata_page(central.project, FORM, select="__id").value

    assert changed == [] and deleted == []
    assert everything == [{"__id": instance}]


# -- reading shapes -----------------------------------------------------------------------------------------------


def test_select_count_expand_and_repeat_tables(central: Central) -> None:
    row = central.fake.add_submission(
        central.project,
        FORM,
        {"name": "Salma", "age": "34", "household": {"size": 5}},
        repeats={"people": [{"person": "Ali", "years": 9}, {"person": "Nora", "years": 4}]},
    )
    central.submit(2)
    with central.client() as client:
        page = client.odata_page(central.project, FORM)
        selected = client.odata_page(central.project, FORM, select="__id,household/size", count=True)
        expanded = client.get_submission(central.project, FORM, row["__id"])
        children = client.odata_page(central.project, FORM, table="Submissions.people").value

    assert [p["person"] for p in page.value[-1]["people"]] == ["Ali", "Nora"]  # $expand=* inlines repeats
    assert selected.count == 3
    assert selected.value[-1] == {"__id": row["__id"], "household": {"size": 5}}
    assert expanded is not None and expanded["age"] == 34  # ints as numbers
    assert [person["years"] for person in expanded["people"]] == [9, 4]
    assert [(c["person"], c["__Submissions-id"]) for c in children] == [("Ali", row["__id"]), ("Nora", row["__id"])]


def test_get_submission_is_none_when_absent_or_deleted(central: Central) -> None:
    kept, gone = central.submit(2)
    central.fake.delete_submission(central.project, FORM, gone)
    with central.client() as client:
        found = client.get_submission(central.project, FORM, kept)
        assert client.get_submission(central.project, FORM, gone) is None
        assert client.get_submission(central.project, FORM, "uuid:00000000-0000-4000-8000-000000000000") is None

    assert found is not None and found["__id"] == kept and "__system" in found


def test_form_ids_are_percent_encoded_field_by_field(central: Central) -> None:
    odd = "suivi #2? (oriental) 100%"
    central.fake.add_form(central.project, make_xform(odd, "1"))
    (instance,) = central.submit(1, form=odd)
    with central.client() as client:
        rows = client.odata_page(central.project, odd).value
        row = client.get_submission(central.project, odd, instance)

    assert [r["__id"] for r in rows] == [instance]
    assert row is not None and row["__id"] == instance


def test_a_form_field_filter_is_refused_and_not_retried(central: Central) -> None:
    with central.client() as client:
        with pytest.raises(ServerFailed, match=r"501\.5") as raised:
            client.odata_page(central.project, FORM, filter="age gt 30")
        retries = client.retries

    assert "age" in str(raised.value) and retries == 0


# -- malformed pages ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "nth", "says"),
    [
        ("missing-id", 2, "row 0 has no '__id'"),
        ("not-json", 1, "not JSON"),
        ("no-value", 3, "no 'value' list"),
    ],
)
def test_a_malformed_page_stops_the_walk_naming_form_and_page(central: Central, kind: str, nth: int, says: str) -> None:
    central.submit(250)
    central.fake.malformed_odata(nth, kind)
    with central.client() as client, pytest.raises(MalformedResponse) as raised:
        walk(client, central.project, top=100)

    message = str(raised.value)
    assert says in message and f"form '{FORM}'" in message
    assert ("first page" in message) == (nth == 1)
    assert ("$skiptoken" in message) == (nth > 1)


# -- faults: retries, Retry-After, timeouts --------------------------------------------------------------------------


def test_503_on_every_third_request_is_retried_and_counted(central: Central) -> None:
    added = central.submit(250)
    central.fake.fail_every(3)
    with central.client() as client:
        pages = walk(client, central.project, top=50)
        retries, injected = client.retries, central.fake.injected

    assert ids(pages) == added[::-1]
    assert retries == injected >= 2
    assert len(central.sleeps) == retries and all(0 <= s <= 30 for s in central.sleeps)


def test_429_retry_after_is_honoured(central: Central) -> None:
    central.submit(3)
    central.fake.fail_next(1, 429, retry_after="7", match=r"\.svc/Submissions")
    with central.client() as client:
        page = client.odata_page(central.project, FORM)
        retries = client.retries

    assert len(page.value) == 3
    assert central.sleeps == [7.0] and retries == 1


def test_a_slow_server_times_out_and_exhausts_the_retries(central: Central) -> None:
    central.fake.slow(0.5, match=r"\.svc/")
    timeout = httpx.Timeout(connect=2.0, read=0.1, write=2.0, pool=2.0)
    with central.client(timeout=timeout, policy=RetryPolicy(attempts=2)) as client, pytest.raises(RetriesExhausted):
        client.odata_page(central.project, FORM)

    assert len(central.sleeps) == 1


# -- sessions ---------------------------------------------------------------------------------------------------


def test_session_expiry_mid_run_logs_in_once_more_and_the_run_goes_on(central: Central) -> None:
    added = central.submit(250)
    central.fake.between_pages = lambda n: central.fake.expire_sessions() if n == 1 else None
    with central.client() as client:
        pages = walk(client, central.project, top=100)
        logins = client.logins

    assert ids(pages) == added[::-1]
    assert central.fake.logins == logins == 2


def test_a_wrong_password_fails_clearly_and_never_shows_the_password(
    central: Central, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "hunter2-Wrong-Secret"
    caplog.set_level(logging.DEBUG)
    client = central.client(password=wrong)
    with client, pytest.raises(AuthenticationFailed) as raised:
        client.odata_page(central.project, FORM)

    error = raised.value
    assert EMAIL in str(error) and "refused the login" in str(error) and "401.2" in str(error)
    for text in (str(error), repr(error), error.body, repr(client), repr(client._auth), caplog.text):
        assert wrong not in text
    assert central.fake.logins == 1  # a refused login is not retried
    assert [r.path for r in central.fake.requests] == ["/v1/sessions"]


def test_close_logs_out(central: Central) -> None:
    with central.client() as client:
        client.odata_page(central.project, FORM)

    assert [s.ended for s in central.fake.sessions.values()] == [True]
    assert central.fake.requests[-1].method == "DELETE"


# -- the fake refuses what Central refuses ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "query", "code"),
    [
        ("2026.2", "$top=10&_=1", 501.1),  # any unknown key, even a cache-buster
        ("2026.2", "$select=__id&$expand=*", 501.11),
        ("2026.2", "$orderby=__system/submissionDate desc&$skiptoken=01e30=", 501.1),
        ("2026.2", "$filter=name eq 'x'", 501.5),  # form fields are not filterable
        ("2024.2", "$filter=__id eq 'x'", 501.5),
        ("2026.2", "$filter=__system/submissionDate ge", 400.18),
        ("2026.2", "$select=nowhere", 400.23),
    ],
)
def test_the_fake_refuses_what_central_refuses(start, version: str, query: str, code: float) -> None:
    central = start(version)
    token = httpx.post(f"{central.url}/v1/sessions", json={"email": EMAIL, "password": PASSWORD}).json()["token"]
    response = httpx.get(
        f"{central.url}/v1/projects/{central.project}/forms/{FORM}.svc/Submissions?{query}",
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == int(code)
    assert response.json()["code"] == code and response.json()["message"]


@pytest.mark.parametrize(("version", "status", "code"), [("2026.2", 401, 401.2), ("2024.2", 403, 403.1)])
def test_the_fake_answers_missing_credentials_like_each_version(start, version: str, status: int, code: float) -> None:
    central = start(version)
    response = httpx.get(f"{central.url}/v1/projects/{central.project}/forms")

    assert (response.status_code, response.json()["code"]) == (status, code)
