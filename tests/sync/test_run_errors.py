"""An unexpected error is recorded without the data it was handling (item 9 of issue 9): SQL errors carry the
rejected row and its bound parameters, and staff read runs although they may not read submissions."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import Session

from api.app import create_app
from sera.db import make_engine
from sera.logs import KeyValueFormatter
from sera.tokens import create_token
from tests.worlds import KoboWorld, add_people, runs

ANSWER = "Zaynab Secret-Answer 7731"
"""A name no error message may repeat."""


@pytest.fixture
def refusing_database(engine: Engine) -> Iterator[None]:
    """The database refuses to store a submission holding ANSWER, the way a real constraint refuses a row."""
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as connection:
        if postgres:
            connection.execute(
                text("ALTER TABLE submission ADD CONSTRAINT refuse_answer CHECK (data::text NOT LIKE '%Zaynab%')")
            )
        else:
            connection.execute(
                text(
                    "CREATE TRIGGER refuse_answer BEFORE INSERT ON submission WHEN NEW.data LIKE '%Zaynab%' "
                    "BEGIN SELECT RAISE(ABORT, 'row refused'); END"
                )
            )
    yield
    with engine.begin() as connection:
        if postgres:
            connection.execute(text("ALTER TABLE submission DROP CONSTRAINT refuse_answer"))
        else:
            connection.execute(text("DROP TRIGGER refuse_answer"))


def test_a_failing_sql_statement_leaves_no_answer_in_the_run_error_nor_the_api(
    kobo_world: KoboWorld, session: Session, refusing_database: None, caplog: pytest.LogCaptureFixture
) -> None:
    # `start` is also stored in its own column, so PostgreSQL's `DETAIL: Failing row contains (…)` quotes it whole.
    add_people(kobo_world.fake, kobo_world.asset, 3, name=ANSWER, start=ANSWER)
    run = kobo_world.sync()
    assert run.status == "failed"
    assert run.error is not None
    [stored] = runs(session)
    assert stored.error == run.error
    assert "Zaynab" not in run.error
    assert run.error.startswith("unexpected IntegrityError (")
    assert "the server log has the details" in run.error
    _row, token = create_token(session, "staff")
    session.commit()
    with TestClient(create_app(kobo_world.settings)) as client:
        answer = client.get("/api/v1/sync/runs", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    assert answer.json()["items"][0]["error"] == run.error
    assert "Zaynab" not in answer.text
    logged = "\n".join(KeyValueFormatter().format(record) for record in caplog.records)
    assert "sync crashed" in logged
    assert "INSERT INTO submission" in logged, "the log says what failed"
    assert "Zaynab" not in logged, "the log says it without the values"


def test_engines_hide_bound_parameters(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert engine.hide_parameters is True
    finally:
        engine.dispose()
