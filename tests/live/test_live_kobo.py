"""The acceptance scenario against a REAL KoboToolbox server (opt-in: `pytest -m live`, skipped without settings).

SERA_LIVE_KOBO_URL (the KPI address, e.g. https://kf.kobotoolbox.org) and SERA_LIVE_KOBO_TOKEN (the account's API
token). Phones submit over OpenRosa, which KPI serves only on its KoboCAT address: SERA_LIVE_KOBO_KC_URL, by
default the KPI address with `kf.` replaced by `kc.`. Each run deploys five new assets in the account.
"""

import datetime as dt
import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from catalogue.validation import read_catalogue
from sera.settings import DEFAULT_CATALOGUE
from tests.acceptance.expected import CONTACTS, PEOPLE, Sheet, api_cells, figures
from tests.acceptance.phones import OTHER_FORMS, Answers, Phones
from tests.acceptance.programme import Api, Sera, base_environment, running_server
from tests.live.test_live_central import Q2, Q3, Q4, add, fresh_person

KOBO_SETTINGS = ("SERA_LIVE_KOBO_URL", "SERA_LIVE_KOBO_TOKEN")
KOBO = {name: os.environ.get(name, "") for name in KOBO_SETTINGS}
KC_URL = os.environ.get("SERA_LIVE_KOBO_KC_URL") or KOBO["SERA_LIVE_KOBO_URL"].replace("://kf.", "://kc.", 1)
FORMS = ("attendance", *OTHER_FORMS)

pytestmark = pytest.mark.live


class Kobo:
    """KPI's REST API for the officer's actions, KoboCAT's OpenRosa `/submission` for the phones."""

    def __init__(self, url: str, kc_url: str, token: str) -> None:
        headers = {"Authorization": f"Token {token}"}
        self.kpi = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=60)
        self.kc = httpx.Client(base_url=kc_url.rstrip("/"), headers=headers, timeout=60)

    def deployment(self, uid: str) -> tuple[str, str]:
        """(formhub uuid, deployed version id) of an asset."""
        asset = self.kpi.get(f"/api/v2/assets/{uid}/", params={"format": "json"})
        assert asset.status_code == 200, asset.text
        body = asset.json()
        return body["deployment__uuid"], body["deployed_version_id"]

    def submit(self, uid: str, body: str, instance_id: str, deprecated_id: str = "") -> None:
        formhub, version = self.deployment(uid)
        deprecated = f"<deprecatedID>{deprecated_id}</deprecatedID>" if deprecated_id else ""
        xml = (
            f'<?xml version="1.0"?><{uid} id="{uid}" version="{version}"><formhub><uuid>{formhub}</uuid></formhub>'
            f"{body}<__version__>{version}</__version__>"
            f"<meta><instanceID>{instance_id}</instanceID>{deprecated}</meta></{uid}>"
        )
        response = self.kc.post(
            "/submission",
            files={"xml_submission_file": ("submission.xml", xml.encode(), "text/xml")},
            headers={"X-OpenRosa-Version": "1.0"},
        )
        assert response.status_code == 201, f"OpenRosa submission → {response.status_code}: {response.text[:500]}"

    def rows(self, uid: str) -> dict[str, dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        link: str | None = f"/api/v2/assets/{uid}/data/?format=json&limit=1000"
        while link:
            page = self.kpi.get(link)
            assert page.status_code == 200, page.text
            body = page.json()
            rows.update({row["meta/rootUuid"]: row for row in body["results"]})
            link = body.get("next")
        return rows

    def validate(self, uid: str, _id: int, status: str) -> None:
        response = self.kpi.patch(
            f"/api/v2/assets/{uid}/data/{_id}/validation_status/", json={"validation_status.uid": status}
        )
        assert response.status_code == 200, response.text

    def delete(self, uid: str, _id: int) -> None:
        response = self.kpi.delete(f"/api/v2/assets/{uid}/data/{_id}/")
        assert response.status_code == 204, response.text


@pytest.mark.skipif(not all(KOBO.values()), reason="set " + ", ".join(KOBO_SETTINGS) + " to run against Kobo")
def test_live_kobo(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url, token = (KOBO[name] for name in KOBO_SETTINGS)
    env = base_environment(database_url, SERA_LIVE_KOBO_TOKEN=token)
    sera = Sera(env, tmp_path)
    problems: list[str] = []
    request.addfinalizer(lambda: print("\n".join([*sera.log, "PROBLEMS:", *problems])))
    kobo = Kobo(url, KC_URL, token)

    sera.run("db", "upgrade")
    sera.run("catalogue", "load")
    sera.run("connections", "add", "kobo", "live", "--url", url, "--token-env", "SERA_LIVE_KOBO_TOKEN")
    deployed = [line.split("\t") for line in sera.run("forms", "deploy", "--connection", "live").stdout.splitlines()]
    assert sorted((parts[0], parts[1]) for parts in deployed) == [(f, "deployed") for f in sorted(FORMS)], deployed
    assets = {parts[0]: parts[3] for parts in deployed}
    phones = Phones(read_catalogue(DEFAULT_CATALOGUE))
    partner = phones.partners()[0]
    every = {f"live/{f}": "success" for f in FORMS}
    sheets: dict[str, Sheet] = {}

    def send(form_id: str, answers: Answers, deprecated_id: str = "") -> str:
        instance_id = f"uuid:{uuid.uuid4()}"
        kobo.submit(assets[form_id], phones.shapes[form_id].xml_body(answers), instance_id, deprecated_id)
        return instance_id

    def attend(who: Any, day: dt.date) -> str:
        instance_id = send("attendance", phones.attendance(who, partner, day))
        sheets[instance_id] = Sheet(who, partner, day)
        return instance_id

    with running_server(env, tmp_path) as api_url:
        admin = Api(api_url, sera.token("admin"))
        assert sera.sync() == every
        baseline = {
            (code, by): {cell: item["value"] for cell, item in api_cells(admin.values(code, ",".join(by)), by).items()}
            for code in (PEOPLE, CONTACTS)
            for by in ((), ("sex",))
        }
        women = [fresh_person(f"Amina{i}", "female") for i in range(1, 8)]
        men = [fresh_person(f"Youssef{i}", "male") for i in range(1, 7)]
        oldest = attend(women[0], Q3)
        for who in women[1:]:
            attend(who, Q3)
        moved = {who.first_name: attend(who, Q3) for who in men}["Youssef6"]
        send("attendance", Phones.refused())
        newest = attend(men[0], Q3 + dt.timedelta(days=5))
        for form_id in OTHER_FORMS:
            for _ in range(2):
                send(form_id, phones.other(form_id))
        assert sera.sync() == every

        # An edit (deprecatedID), validation statuses, the newest and the oldest deleted; `--full` sees deletions.
        send("attendance", phones.attendance(men[5], partner, Q4), deprecated_id=moved)
        sheets[moved] = Sheet(men[5], partner, Q4)
        rows = kobo.rows(assets["attendance"])
        kobo.validate(assets["attendance"], rows[list(sheets)[1]]["_id"], "validation_status_approved")
        kobo.validate(assets["attendance"], rows[list(sheets)[2]]["_id"], "validation_status_not_approved")
        for instance_id in (newest, oldest):
            kobo.delete(assets["attendance"], rows[instance_id]["_id"])
            del sheets[instance_id]
        assert sera.sync("--full") == every
        attend(men[1], Q2)
        assert sera.sync() == every

        for form_id in FORMS:
            server = kobo.rows(assets[form_id])
            stored = {s["root_id"]: s["data"] for s in admin.submissions("live", form_id)}
            if sorted(stored) != sorted(server):
                problems.append(
                    f"{form_id}: store lacks {sorted(set(server) - set(stored))}, "
                    f"has extra {sorted(set(stored) - set(server))}"
                )
        ours = list(sheets.values())
        for (code, by), before in baseline.items():
            want = add(before, figures(ours, code, by))
            got = {c: i["value"] for c, i in api_cells(admin.values(code, ",".join(by)), by).items() if i["value"]}
            problems += [
                f"{code} by={by} {k}: API {got.get(k)}, expected {want.get(k)}"
                for k in sorted(set(got) | set(want))
                if got.get(k) != want.get(k)
            ]
        sera.run("report", "quarterly", "2026Q3", "--out", str(tmp_path / "draft.xlsx"))
        if admin.get("/reports/quarterly", period="2026Q3")["total"] != 0:
            problems.append("`sera report quarterly` without --issue issued the report")

    assert not problems, "\n".join(problems)
