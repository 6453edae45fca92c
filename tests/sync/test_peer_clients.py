"""What existing clients miss, against the same fake servers our sync runs on (contracts/peer-clients.md).

Each peer runs unmodified over real HTTP; the assertions record what it gets wrong and that our sync gets right.
"""

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from koboextractor import KoboExtractor
from pykobo import Manager
from pyodk._utils.config import CentralConfig, Config
from pyodk.client import Client

from tests.worlds import KoboWorld, OdkWorld, add_people, stored_rows

pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")  # pykobo's own pandas calls


@pytest.fixture
def kobo_250(kobo_world: KoboWorld) -> KoboWorld:
    add_people(kobo_world.fake, kobo_world.asset, 250)
    return kobo_world


def test_pykobo_reads_one_page_and_never_sees_the_rest(kobo_250: KoboWorld) -> None:
    form = Manager(url=kobo_250.url, api_version=2, token=kobo_250.fake.token).get_form(kobo_250.asset)
    assert form is not None
    form.fetch_data()
    assert isinstance(form.data, pd.DataFrame)
    assert len(form.data) == 100, "pykobo sends no limit and follows no `next` link"
    run = kobo_250.sync()
    assert (run.status, run.rows_new) == ("success", 250)
    kobo_250.assert_store_equals_server()


def test_koboextractor_time_cursor_misses_edits_and_deletions(kobo_250: KoboWorld) -> None:
    fake, asset = kobo_250.fake, kobo_250.asset
    extractor = KoboExtractor(fake.token, f"{kobo_250.url}/api/v2")
    first = extractor.get_data(asset)
    assert len(first["results"]) == 100 and first["next"] is not None, "one page; paging is left to the caller"
    rows: list[dict[str, object]] = []
    start = 0
    while True:
        page = extractor.get_data(asset, start=start, limit=100)
        rows += page["results"]
        if page["next"] is None:
            break
        start += 100
    assert len(rows) == 250
    kobo_250.sync(full=True)

    newest = max(str(row["_submission_time"]) for row in rows)
    edited, deleted = rows[10], rows[20]
    fake.edit_submission(asset, int(edited["_id"]), {"age": "77"})  # type: ignore[call-overload]
    fake.delete_submission(asset, int(deleted["_id"]))  # type: ignore[call-overload]
    since = extractor.get_data(asset, submitted_after=newest)
    assert since["results"] == [], "an edit keeps its _submission_time: invisible to a time cursor; so is a delete"

    run = kobo_250.sync(full=True)
    assert (run.status, run.rows_changed, run.rows_deleted) == ("success", 1, 1)
    kobo_250.assert_store_equals_server()
    assert stored_rows(kobo_250.engine)[str(edited["meta/rootUuid"])]["age"] == "77"


def test_pyodk_reads_one_request_and_a_submission_date_cursor_misses_edits_and_deletions(
    odk_world: OdkWorld, tmp_path: Path
) -> None:
    fake, p, f = odk_world.fake, odk_world.project, odk_world.form_id
    rows = odk_world.add(250)
    config = Config(
        central=CentralConfig(
            base_url=odk_world.url,
            username="sera@example.org",
            password="correct horse battery staple",
            default_project_id=p,
        )
    )
    client = Client(config=config, cache_path=tmp_path / "pyodk_cache.toml")
    first = client.submissions.get_table(form_id=f, top=100)
    assert len(first["value"]) == 100 and "@odata.nextLink" in first, "pyodk never follows @odata.nextLink"
    everything = client.submissions.get_table(form_id=f)
    assert len(everything["value"]) == 250, "without $top it is one unbounded request"
    odk_world.sync(full=True)

    newest = max(row["__system"]["submissionDate"] for row in rows)
    fake.clock.advance(dt.timedelta(minutes=5))
    fake.edit_submission(p, f, rows[7]["__id"], {"name": "Edited", "age": 30, "household": {"size": 1}})
    fake.delete_submission(p, f, rows[8]["__id"])
    since = client.submissions.get_table(form_id=f, filter=f"__system/submissionDate gt {newest}")
    assert since["value"] == [], "an edit keeps its submissionDate and a deletion leaves no row: both unseen"

    run = odk_world.sync(full=not fake.has_deleted_at)
    assert (run.status, run.rows_changed, run.rows_deleted) == ("success", 1, 1), run.error
    odk_world.assert_store_equals_server()
