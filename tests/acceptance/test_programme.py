"""The whole programme as a SERA officer runs it, on SQLite and PostgreSQL: `sera` commands in subprocesses and
the HTTP API of a running `sera serve`, with a Kobo fake and an ODK Central fake served over real HTTP at once.

The shipped catalogue; all five forms deployed to both servers; phones filling every form (repeats, instanceIDs
of every shape Central accepts); edits, deletions (newest, oldest, a whole form), a restore, review and validation
statuses, late data, a Kobo webhook replay, a server fault and its recovery; plain `sera sync` runs; values
recomputed without anyone asking; the ITT, an admin's, a partner's and a viewer's figures checked against counts
made by hand from the sheets sent; a report drafted then issued; no demo data anywhere.

Problems found after the commands succeeded are collected, so one run lists every wrong figure at once.
"""

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from catalogue.validation import read_catalogue
from sera.settings import DEFAULT_CATALOGUE
from tests.acceptance.expected import PEOPLE, Sheet, figures
from tests.acceptance.phones import OTHER_FORMS, Answers, Person, Phones, person
from tests.acceptance.programme import Api, Sera, base_environment, running_server
from tests.acceptance.views import itt_view, raw_view, settle, suppressed_view
from tests.fakes.kobo import KoboFake
from tests.fakes.loopback import serve
from tests.fakes.odk_central import CentralFake

FORMS = ("attendance", *OTHER_FORMS)
ODK_EMAIL, ODK_PASSWORD = "officer@example.org", "a long password for the acceptance run"
ODK_INSTANCE_IDS = (
    "uuid:O'Brien-2026-0001",
    "uuid:استمارة-٠٠١",
    "uuid:[batch-7](3)",
    "UUID:Upper-Case-9",
    "uuid:with space & more",
    "{bare}",
    "uuid:{random}",
)
"""instanceIDs as phones and other clients send them; Central takes any of them (`{…}` are filled in)."""
Q2, Q3, Q4 = dt.date(2026, 5, 20), dt.date(2026, 8, 4), dt.date(2026, 10, 6)


@dataclass
class Field:
    """The two servers and what the phones sent to them: the live attendance sheets by server id."""

    kobo: KoboFake
    odk: CentralFake
    project: int
    phones: Phones
    assets: dict[str, str] = field(default_factory=dict)
    kobo_sheets: dict[int, Sheet | None] = field(default_factory=dict)
    odk_sheets: dict[str, Sheet | None] = field(default_factory=dict)
    kobo_sent: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Every Kobo row as first delivered (what a webhook carried)."""

    def sheets(self) -> list[Sheet]:
        return [s for s in (*self.kobo_sheets.values(), *self.odk_sheets.values()) if s is not None]

    def kobo_submit(self, form_id: str, answers: Answers, sheet: Sheet | None = None) -> int:
        row = self.kobo.add_submission(self.assets[form_id], self.phones.shapes[form_id].kobo(answers))
        self.kobo_sent[row["_id"]] = row
        if form_id == "attendance":
            self.kobo_sheets[row["_id"]] = sheet
        return int(row["_id"])

    def odk_submit(self, form_id: str, answers: Answers, sheet: Sheet | None = None, instance_id: str = "") -> str:
        instance_id = instance_id.format(random=uuid.uuid4(), bare=uuid.uuid4()) or f"uuid:{uuid.uuid4()}"
        self.odk.add_submission(
            self.project, form_id, self.phones.shapes[form_id].nested(answers), instance_id=instance_id
        )
        if form_id == "attendance":
            self.odk_sheets[instance_id] = sheet
        return instance_id

    def attend(self, server: str, who: Person, partner: str, day: dt.date, instance_id: str = "") -> int | str:
        sheet = Sheet(who, partner, day)
        answers = self.phones.attendance(who, partner, day)
        if server == "kobo":
            return self.kobo_submit("attendance", answers, sheet)
        return self.odk_submit("attendance", answers, sheet, instance_id)

    def kobo_rows(self, form_id: str) -> dict[str, dict[str, Any]]:
        return {row["meta/rootUuid"]: row for row in self.kobo.submissions(self.assets[form_id])}

    def odk_rows(self, form_id: str) -> dict[str, dict[str, Any]]:
        with self.odk.lock:
            form = self.odk.form(self.project, form_id)
            return {s.instance_id: self.odk.row(form, s) for s in form.submissions.values() if s.deleted_at is None}


def store_matches_servers(admin: Api, field_: Field, connections: tuple[str, ...] = ("kobo", "central")) -> list[str]:
    """Each form's live stored submissions are exactly the server's, answer for answer."""
    problems = []
    for connection in connections:
        for form_id in FORMS:
            server = field_.kobo_rows(form_id) if connection == "kobo" else field_.odk_rows(form_id)
            stored = {s["root_id"]: s["data"] for s in admin.submissions(connection, form_id)}
            if sorted(stored) != sorted(server):
                missing, extra = sorted(set(server) - set(stored)), sorted(set(stored) - set(server))
                problems.append(f"{connection}/{form_id}: store lacks {missing}, has extra {extra}")
            problems += [
                f"{connection}/{form_id} {root}: stored answers differ from the server's"
                for root in sorted(set(server) & set(stored))
                if stored[root] != server[root]
            ]
    return problems


@pytest.fixture
def servers() -> Iterator[tuple[KoboFake, str, CentralFake, str, int]]:
    """A Kobo fake and an ODK Central fake (2026.2) on two loopback ports, both up at once."""
    kobo = KoboFake(max_limit=1000)
    odk = CentralFake(version="2026.2")
    odk.add_user(ODK_EMAIL, ODK_PASSWORD)
    project = odk.add_project("PRIM 2")
    with serve(kobo.app) as kobo_url, serve(odk.app) as odk_url:
        yield kobo, kobo_url, odk, odk_url, project


def test_programme_end_to_end(
    database_url: str, tmp_path: Path, servers: tuple[Any, ...], request: pytest.FixtureRequest
) -> None:
    kobo, kobo_url, odk, odk_url, project = servers
    env = base_environment(database_url, ACC_KOBO_TOKEN=kobo.token, ACC_ODK_PASSWORD=ODK_PASSWORD)
    sera = Sera(env, tmp_path)
    problems: list[str] = []
    request.addfinalizer(lambda: print("\n".join([*sera.log, "PROBLEMS:", *problems])))

    # -- an officer sets up the programme: schema, catalogue, two accounts, five forms on each --------------
    sera.run("db", "upgrade")
    sera.run("catalogue", "load")
    sera.run("connections", "add", "kobo", "kobo", "--url", kobo_url, "--token-env", "ACC_KOBO_TOKEN")
    sera.run(
        "connections", "add", "odk", "central", "--url", odk_url, "--project", str(project),
        "--email", ODK_EMAIL, "--password-env", "ACC_ODK_PASSWORD",
    )  # fmt: skip
    phones = Phones(read_catalogue(DEFAULT_CATALOGUE))
    field_ = Field(kobo, odk, project, phones)
    for connection in ("kobo", "central"):
        lines = [
            line.split("\t") for line in sera.run("forms", "deploy", "--connection", connection).stdout.splitlines()
        ]
        assert sorted((parts[0], parts[1]) for parts in lines) == [(f, "deployed") for f in sorted(FORMS)], lines
        if connection == "kobo":
            field_.assets = {parts[0]: parts[3] for parts in lines}
        else:
            assert {parts[0]: parts[3] for parts in lines} == {f: f for f in FORMS}
    assert sorted(kobo.assets) == sorted(field_.assets.values())
    for form_id in FORMS:
        assert odk.form(project, form_id).current is not None, form_id

    partner_a, partner_b = phones.partners()[:2]
    with running_server(env, tmp_path) as url:
        admin = Api(url, sera.token("admin"))
        viewer = Api(url, sera.token("viewer"))
        partner = Api(url, sera.token("partner", partner_a))

        def views(*periods: str) -> list[str]:
            sheets = field_.sheets()
            found = raw_view(admin, sheets)
            found += suppressed_view("viewer", viewer, sheets)
            found += suppressed_view(f"partner {partner_a}", partner, sheets, where={"partner": partner_a})
            for period in periods:
                found += itt_view("admin", admin, sheets, period, raw=True)
                found += itt_view("viewer", viewer, sheets, period, raw=False)
                found += itt_view("partner", partner, sheets, period, where={"partner": partner_a}, raw=False)
            return found

        # -- phones fill every form on both servers ------------------------------------------------------
        women_a = [person(f"Amina{i}", "female") for i in range(1, 10)]
        men_a = [person(f"Youssef{i}", "male") for i in range(1, 8)]
        women_b = [person(f"Fatou{i}", "female") for i in range(1, 13)]
        men_b = [person(f"Moussa{i}", "male") for i in range(1, 4)]
        kobo_ids: dict[str, int] = {}
        kobo_ids["oldest"] = int(field_.attend("kobo", women_a[0], partner_a, Q3))  # Amina1 comes back later
        for who in women_a[1:8]:
            field_.attend("kobo", who, partner_a, Q3)
        field_.attend("kobo", women_a[0], partner_a, Q3 + dt.timedelta(days=20))
        field_.attend("kobo", women_a[1], partner_a, Q3 + dt.timedelta(days=21))
        for who in men_a[:7]:
            kobo_ids[who.first_name] = int(field_.attend("kobo", who, partner_a, Q3))
        field_.attend("kobo", men_a[0], partner_a, Q3 + dt.timedelta(days=30))
        field_.kobo_submit("attendance", Phones.refused())
        kobo_ids["newest"] = int(field_.attend("kobo", men_a[4], partner_a, Q3 + dt.timedelta(days=2)))

        odk_ids: dict[str, str] = {}
        shapes = iter(ODK_INSTANCE_IDS)
        odk_ids["oldest"] = str(field_.attend("odk", women_b[0], partner_b, Q3, next(shapes)))
        for who in women_b[1:7]:
            field_.attend("odk", who, partner_b, Q3, next(shapes, ""))
        odk_ids["Fatou6"] = next(i for i, s in field_.odk_sheets.items() if s and s.who == women_b[5])
        for who in men_b:
            field_.attend("odk", who, partner_b, Q3)
        field_.odk_submit("attendance", Phones.refused())
        odk_ids["newest"] = str(field_.attend("odk", women_a[2], partner_a, Q3 + dt.timedelta(days=3)))
        for form_id in OTHER_FORMS:
            for _ in range(3):
                field_.kobo_submit(form_id, phones.other(form_id))
                field_.odk_submit(form_id, phones.other(form_id))

        # -- a plain `sera sync`: both connections, every form; values follow without `indicators compute` --
        assert sera.sync() == {f"{c}/{f}": "success" for c in ("central", "kobo") for f in FORMS}
        problems += store_matches_servers(admin, field_)
        problems += settle(lambda: views("2026Q3"))

        # -- the officer cleans the data; one more sheet of a person comes in late -----------------------
        # An hour passes on Central: what changes now is outside the incremental window of what came before.
        odk.clock.advance(dt.timedelta(hours=1))
        # Kobo: an edit (Youssef6's activity moves to Q4), validation statuses, the newest and the oldest sheet
        # deleted, a whole form (feedback) emptied.
        asset = field_.assets["attendance"]
        v1 = field_.kobo_sent[kobo_ids["Youssef6"]]
        moved = phones.attendance(men_a[5], partner_a, Q4)
        kobo.edit_submission(asset, kobo_ids["Youssef6"], phones.shapes["attendance"].kobo(moved))
        field_.kobo_sheets[kobo_ids["Youssef6"]] = Sheet(men_a[5], partner_a, Q4)
        kobo.set_validation_status(asset, kobo_ids["Youssef1"], "validation_status_approved")
        kobo.set_validation_status(asset, kobo_ids["Youssef2"], "validation_status_not_approved")
        for which in ("newest", "oldest"):
            kobo.delete_submission(asset, kobo_ids[which])
            del field_.kobo_sheets[kobo_ids[which]]
        kobo.delete_submission(asset, kobo_ids["Youssef5"])
        del field_.kobo_sheets[kobo_ids["Youssef5"]]
        for row in kobo.submissions(field_.assets["feedback"]):
            kobo.delete_submission(field_.assets["feedback"], row["_id"])
        # ODK Central: the newest and oldest sheets deleted, an edit (Fatou6 was a man), review states, Q4 sheets,
        # every feedback submission deleted.
        for which in ("newest", "oldest"):
            odk.delete_submission(project, "attendance", odk_ids[which])
        deleted_oldest = field_.odk_sheets.pop(odk_ids["oldest"])
        del field_.odk_sheets[odk_ids["newest"]]
        fatou6_as_man = Person(
            women_b[5].first_name, women_b[5].last_name, "male", women_b[5].birth_year, women_b[5].phone
        )
        odk.edit_submission(
            project, "attendance", odk_ids["Fatou6"],
            phones.shapes["attendance"].nested(phones.attendance(fatou6_as_man, partner_b, Q3)),
        )  # fmt: skip
        field_.odk_sheets[odk_ids["Fatou6"]] = Sheet(fatou6_as_man, partner_b, Q3)
        live_odk = [i for i, s in field_.odk_sheets.items() if s is not None]
        for instance_id, state in zip(live_odk, ("approved", "hasIssues", "rejected"), strict=False):
            odk.set_review_state(project, "attendance", instance_id, state)
        for who in women_b[7:12]:
            field_.attend("odk", who, partner_b, Q4)
        for instance_id in field_.odk_rows("feedback"):
            odk.delete_submission(project, "feedback", instance_id)
        grant_report = next(iter(field_.odk_rows("grant_report")))
        odk.set_review_state(project, "grant_report", grant_report, "approved")

        # A fault: Kobo answers an HTML 500 page (not retried: Kobo's 500s are often client mistakes), so the
        # first Kobo form's run fails and the others go on; the next run recovers it.
        kobo.fail_next(1, 500)
        statuses = sera.sync(ok=False)
        assert sorted(k for k, v in statuses.items() if v != "success") == ["kobo/attendance"], sera.log[-1]
        problems += store_matches_servers(admin, field_, ("central",))
        kobo.clear_faults()
        assert sera.sync("--full") == {f"{c}/{f}": "success" for c in ("central", "kobo") for f in FORMS}
        problems += store_matches_servers(admin, field_)
        problems += settle(lambda: views("2026Q3", "2026Q4"))

        # -- late data (Q2 sheets arriving in Q4), a restore, a webhook replay ------------------------------
        odk.clock.advance(dt.timedelta(hours=1))  # the restored sheet is an old one, as in real life
        field_.attend("kobo", women_a[3], partner_a, Q2)  # Amina4 was first seen in Q2 after all
        field_.attend("kobo", women_a[8], partner_a, Q2)
        odk.restore_submission(project, "attendance", odk_ids["oldest"])
        field_.odk_sheets[odk_ids["oldest"]] = deleted_oldest
        assert sera.sync() == {f"{c}/{f}": "success" for c in ("central", "kobo") for f in FORMS}
        problems += store_matches_servers(admin, field_)

        secret = sera.run("connections", "hook-secret", "kobo").stdout.strip().splitlines()[-1]
        for replay in (v1, field_.kobo_sent[kobo_ids["newest"]]):
            response = httpx.post(f"{url}/api/v1/hooks/kobo/kobo", json=replay, headers={"X-Sera-Hook-Secret": secret})
            assert response.status_code == 202, response.text
        problems += store_matches_servers(admin, field_, ("kobo",))
        problems += settle(lambda: views("2026Q2", "2026Q3", "2026Q4"))

        # The design above must leave both visible and hidden cells, or the checks prove little.
        people = figures(field_.sheets(), PEOPLE, ("partner", "sex"))
        assert sorted(v for v in people.values() if v < 5) and sorted(v for v in people.values() if v >= 5)

        # -- the quarterly report: drafted (nothing issued), then issued -----------------------------------
        drafted = sera.run("report", "quarterly", "2026Q3", "--out", str(tmp_path / "draft.xlsx"))
        assert (tmp_path / "draft.xlsx").stat().st_size > 0
        listed = admin.get("/reports/quarterly", period="2026Q3")
        if listed["total"] != 0 or "draft" not in drafted.stdout:
            problems.append(f"`sera report quarterly` without --issue issued the report: {drafted.stdout.strip()}")
        else:
            issued = admin.post("/reports/quarterly/2026Q3/issues")
            assert issued["number"] == 1, issued
        written = sera.run("report", "quarterly", "2026Q3", "--out", str(tmp_path / "issued.xlsx"))
        assert "edition 1" in written.stdout, written.stdout
        copy = httpx.get(
            f"{url}/api/v1/reports/quarterly/2026Q3.xlsx", headers={"Authorization": f"Bearer {partner.token}"}
        )
        assert copy.status_code == 200 and copy.headers["X-Sera-Report-Status"] == "issued", copy.headers

        # -- no demo data anywhere ------------------------------------------------------------------------
        listed_connections = sera.run("connections", "list").stdout.splitlines()
        assert sorted(line.split("\t")[0] for line in listed_connections) == ["central", "kobo"]
        assert admin.get("/submissions", connection="demo")["total"] == 0

    assert not problems, "\n".join(problems)
