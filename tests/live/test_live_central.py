"""The acceptance scenario against a REAL server (opt-in: `pytest -m live`, skipped without its settings).

ODK Central: SERA_LIVE_ODK_URL, SERA_LIVE_ODK_EMAIL, SERA_LIVE_ODK_PASSWORD, SERA_LIVE_ODK_PROJECT (a project the
account administers; the test deploys the five PRIM 2 forms there and adds submissions). KoboToolbox:
SERA_LIVE_KOBO_URL, SERA_LIVE_KOBO_TOKEN (deploys five new assets in that account).

SERA runs as its users run it (`sera` subprocesses, a running `sera serve`) on a throwaway database; the test plays
the phones the way Collect and pyodk do (OpenRosa `POST /v1/projects/:id/submission`, edits by `deprecatedID`,
review states, deletion and restore over REST). A real server keeps what earlier runs sent, so the figures are
checked as the first sync's values plus what this run's people add (fresh people every run), and the store is
compared with everything the server holds.
"""

import datetime as dt
import os
import secrets
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from catalogue.validation import read_catalogue
from sera.settings import DEFAULT_CATALOGUE
from tests.acceptance.expected import CONTACTS, PEOPLE, Sheet, api_cells, figures
from tests.acceptance.phones import OTHER_FORMS, Person, Phones
from tests.acceptance.programme import Api, Sera, base_environment, running_server

ODK_SETTINGS = ("SERA_LIVE_ODK_URL", "SERA_LIVE_ODK_EMAIL", "SERA_LIVE_ODK_PASSWORD", "SERA_LIVE_ODK_PROJECT")
ODK = {name: os.environ.get(name, "") for name in ODK_SETTINGS}
"""Read at import: the suite's autouse fixture clears SERA_* settings inside each test."""
FORMS = ("attendance", *OTHER_FORMS)
INSTANCE_IDS = (
    "uuid:{random}",
    "{random}",
    "uuid:O'Brien-{short}",
    "uuid:استمارة-{short}",
    "uuid:[batch]({short})",
    "UUID:Upper-Case-{short}",
    "uuid:with space & more {short}",
)
Q2, Q3, Q4 = dt.date(2026, 5, 20), dt.date(2026, 8, 4), dt.date(2026, 10, 6)

pytestmark = pytest.mark.live


class Central:
    """ODK Central as pyodk and Collect talk to it: a session token, OpenRosa submissions, REST for the rest."""

    def __init__(self, url: str, email: str, password: str, project: int) -> None:
        self.url, self.project = url.rstrip("/"), project
        token = httpx.post(f"{self.url}/v1/sessions", json={"email": email, "password": password}, timeout=30)
        token.raise_for_status()
        self.http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token.json()['token']}"}, timeout=60
        )

    def submit(self, xml: bytes) -> None:
        response = self.http.post(
            f"/v1/projects/{self.project}/submission",
            files={"xml_submission_file": ("submission.xml", xml, "text/xml")},
            headers={"X-OpenRosa-Version": "1.0"},
        )
        assert response.status_code == 201, f"OpenRosa submission → {response.status_code}: {response.text}"

    def _submission(self, form_id: str, instance_id: str) -> str:
        return f"/v1/projects/{self.project}/forms/{form_id}/submissions/{quote(instance_id, safe='')}"

    def review(self, form_id: str, instance_id: str, state: str) -> None:
        response = self.http.patch(self._submission(form_id, instance_id), json={"reviewState": state})
        assert response.status_code == 200, response.text

    def delete(self, form_id: str, instance_id: str) -> None:
        response = self.http.delete(self._submission(form_id, instance_id))
        assert response.status_code == 200, response.text

    def restore(self, form_id: str, instance_id: str) -> None:
        response = self.http.post(self._submission(form_id, instance_id) + "/restore")
        assert response.status_code == 200, response.text

    def has_deleted_at(self, form_id: str) -> bool:
        """Whether OData filters on `__system/deletedAt` (2024.3+); older servers show deletions only to a full
        reconciliation (`sera sync --full`)."""
        probe = self.http.get(
            f"/v1/projects/{self.project}/forms/{form_id}.svc/Submissions",
            params={"$filter": "__system/deletedAt eq null", "$top": "0"},
        )
        return probe.status_code == 200

    def odata_rows(self, form_id: str) -> dict[str, dict[str, Any]]:
        """Every live submission as OData gives it with repeats inline (what the store keeps)."""
        rows: dict[str, dict[str, Any]] = {}
        link: str | None = f"/v1/projects/{self.project}/forms/{form_id}.svc/Submissions?%24expand=*"
        while link:
            page = self.http.get(link)
            assert page.status_code == 200, page.text
            body = page.json()
            rows.update({row["__id"]: row for row in body["value"]})
            link = body.get("@odata.nextLink")
        return rows


def fresh_person(first_name: str, sex: str) -> Person:
    """Someone no earlier run sent (a random surname and phone)."""
    return Person(first_name, f"Live{secrets.token_hex(4)}", sex, 1990, f"06{secrets.randbelow(10**8):08d}")


def add(base: dict[Any, float], extra: dict[Any, int]) -> dict[Any, float]:
    total: Counter[Any] = Counter(base)
    total.update(extra)
    return {k: v for k, v in total.items() if v}


@pytest.mark.skipif(not all(ODK.values()), reason="set " + ", ".join(ODK_SETTINGS) + " to run against ODK Central")
def test_live_odk_central(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url, email, password, project = (ODK[name] for name in ODK_SETTINGS)
    env = base_environment(database_url, SERA_LIVE_ODK_PASSWORD=password)
    sera = Sera(env, tmp_path)
    problems: list[str] = []
    request.addfinalizer(lambda: print("\n".join([*sera.log, "PROBLEMS:", *problems])))
    central = Central(url, email, password, int(project))

    sera.run("db", "upgrade")
    sera.run("catalogue", "load")
    sera.run(
        "connections", "add", "odk", "live", "--url", url, "--project", project,
        "--email", email, "--password-env", "SERA_LIVE_ODK_PASSWORD",
    )  # fmt: skip
    deployed = [line.split("\t") for line in sera.run("forms", "deploy", "--connection", "live").stdout.splitlines()]
    assert sorted(parts[0] for parts in deployed) == sorted(FORMS), deployed
    versions = {parts[0]: (parts[3], parts[2]) for parts in deployed}
    """form → (xmlFormId, version) as deployed."""
    phones = Phones(read_catalogue(DEFAULT_CATALOGUE))
    partner = phones.partners()[0]
    every = {f"live/{f}": "success" for f in FORMS}

    with running_server(env, tmp_path) as api_url:
        admin = Api(api_url, sera.token("admin"))
        assert sera.sync() == every
        baseline = {
            (code, by): {cell: item["value"] for cell, item in api_cells(admin.values(code, ",".join(by)), by).items()}
            for code in (PEOPLE, CONTACTS)
            for by in ((), ("sex",))
        }

        sheets: dict[str, Sheet] = {}
        shapes = iter(INSTANCE_IDS)

        def send(form_id: str, answers: dict[str, Any], deprecated_id: str = "") -> str:
            template = next(shapes, "uuid:{random}")
            instance_id = template.format(random=uuid.uuid4(), short=secrets.token_hex(3))
            xml_form_id, version = versions[form_id]
            central.submit(
                phones.shapes[form_id].xml(
                    answers, xml_form_id=xml_form_id, version=version, instance_id=instance_id,
                    deprecated_id=deprecated_id,
                )
            )  # fmt: skip
            return instance_id

        def attend(who: Person, day: dt.date) -> str:
            instance_id = send("attendance", phones.attendance(who, partner, day))
            sheets[instance_id] = Sheet(who, partner, day)
            return instance_id

        women = [fresh_person(f"Amina{i}", "female") for i in range(1, 8)]
        men = [fresh_person(f"Youssef{i}", "male") for i in range(1, 7)]
        oldest = attend(women[0], Q3)
        for who in women[1:6]:
            attend(who, Q3)
        attend(women[1], Q3 + dt.timedelta(days=9))
        first_ids = {who.first_name: attend(who, Q3) for who in men}
        send("attendance", Phones.refused())
        newest = attend(women[6], Q3)
        for form_id in OTHER_FORMS:
            for _ in range(2):
                send(form_id, phones.other(form_id))

        assert sera.sync() == every

        # An edit over OpenRosa (Youssef6's activity was in Q4), review states, the newest and oldest deleted.
        moved = first_ids["Youssef6"]
        edit_id = f"uuid:{uuid.uuid4()}"
        central.submit(
            phones.shapes["attendance"].xml(
                phones.attendance(men[5], partner, Q4), xml_form_id=versions["attendance"][0],
                version=versions["attendance"][1], instance_id=edit_id, deprecated_id=moved,
            )
        )  # fmt: skip
        sheets[moved] = Sheet(men[5], partner, Q4)
        for instance_id, state in zip(list(sheets)[1:4], ("approved", "hasIssues", "rejected"), strict=True):
            central.review("attendance", instance_id, state)
        for instance_id in (newest, oldest):
            central.delete("attendance", instance_id)
        deleted_oldest = sheets.pop(oldest)
        del sheets[newest]
        assert sera.sync() == every
        if not central.has_deleted_at(versions["attendance"][0]):
            assert sera.sync("--full") == every

        # Late data (a Q2 sheet arriving now) and a restore, then one more plain sync.
        attend(men[0], Q2)
        central.restore("attendance", oldest)
        sheets[oldest] = deleted_oldest
        assert sera.sync() == every

        for form_id in FORMS:
            server = central.odata_rows(versions[form_id][0])
            stored = {s["root_id"]: s["data"] for s in admin.submissions("live", form_id)}
            if sorted(stored) != sorted(server):
                problems.append(
                    f"{form_id}: store lacks {sorted(set(server) - set(stored))}, "
                    f"has extra {sorted(set(stored) - set(server))}"
                )
            problems += [
                f"{form_id} {k}: stored answers differ" for k in set(server) & set(stored) if server[k] != stored[k]
            ]

        ours = list(sheets.values())
        for (code, by), before in baseline.items():
            want = add(before, figures(ours, code, by))
            got = {cell: item["value"] for cell, item in api_cells(admin.values(code, ",".join(by)), by).items()}
            got = {k: v for k, v in got.items() if v}
            if got != want:
                wrong = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
                problems += [f"{code} by={by} {k}: API {got.get(k)}, expected {want.get(k)}" for k in wrong]

        draft = sera.run("report", "quarterly", "2026Q3", "--out", str(tmp_path / "draft.xlsx"))
        assert (tmp_path / "draft.xlsx").stat().st_size > 0, draft.stdout
        if admin.get("/reports/quarterly", period="2026Q3")["total"] != 0:
            problems.append(f"`sera report quarterly` without --issue issued the report: {draft.stdout.strip()}")
        else:
            assert admin.post("/reports/quarterly/2026Q3/issues")["number"] == 1

    assert not problems, "\n".join(problems)
