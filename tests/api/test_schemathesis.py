"""schemathesis over the app's own OpenAPI: no request, from any caller, gets a server error.

Every operation of `/api/v1/openapi.json` gets requests generated from its schema (valid ones, and ones that
break it), sent in-process to the real app on a database with the PRIM 2 catalogue and a little demo data, as
an admin, staff, a partner, a viewer and with no token. Each answer must not be a 5xx, must match its schema
when the schema documents it, and must carry the status codes and content types the schema declares.

Bounded for CI (SQLite only: the same app on PostgreSQL doubles the time for little more, since the failures it
looks for are in request handling; the database-specific ones have their own tests on both backends).
"""

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import FailedHealthCheck, Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlmodel import Session

from analysis.compute import compute
from analysis.demo import generate_demo
from api.app import create_app
from catalogue.store import load_catalogue, stored_catalogue
from catalogue.validation import read_catalogue
from sera.db import make_engine
from sera.migrate import upgrade
from sera.settings import DEFAULT_CATALOGUE, Settings
from sera.tokens import create_token

CALLERS = ("admin", "staff", "partner", "viewer", "none")
EXAMPLES = 6
"""Requests per operation, caller and mode (valid, invalid): about 1,500 requests over the whole API."""
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]


@dataclass
class Target:
    schema: schemathesis.BaseSchema
    headers: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    url = f"sqlite:///{tmp_path_factory.mktemp('schemathesis') / 'sera.db'}"
    upgrade(url)
    engine = make_engine(url)
    headers: dict[str, dict[str, str]] = {"none": {}}
    with Session(engine) as session:
        load_catalogue(session, read_catalogue(DEFAULT_CATALOGUE), source="test")
        catalogue = stored_catalogue(session)
        generate_demo(session, catalogue, submissions=300, seed=5)
        session.commit()
        compute(session, catalogue, full=True, person_key_secret="test-secret")
        for role in CALLERS[:-1]:
            _row, token = create_token(session, role, organisation="SM-01" if role == "partner" else None)
            headers[role] = {"Authorization": f"Bearer {token}"}
        session.commit()
    engine.dispose()
    app = create_app(Settings(_env_file=None, database_url=url, person_key_secret="test-secret"))  # type: ignore[call-arg]
    yield Target(schemathesis.openapi.from_asgi("/api/v1/openapi.json", app), headers)
    app.state.engine.dispose()


def _failures(target: Target, operation: schemathesis.APIOperation, caller: str) -> list[str]:
    found: list[str] = []
    for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: schemathesis.Case) -> None:
            response = case.call(headers=target.headers[caller])
            case.validate_response(response, checks=CHECKS, headers=target.headers[caller])

        try:
            run()
        except (Unsatisfiable, FailedHealthCheck):
            continue  # nothing to generate in this mode (an operation without parameters has no negative case)
        except (Exception, BaseExceptionGroup) as failure:  # a check failed: keep it, go on with the others
            found.append(f"{operation.method.upper()} {operation.path} as {caller} ({mode.value}): {failure}")
    return found


def test_no_server_error_and_answers_match_the_schema(target: Target) -> None:
    started = dt.datetime.now(dt.UTC)
    failures: list[str] = []
    operations = [result.ok() for result in target.schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        for caller in CALLERS:
            failures += _failures(target, operation, caller)
    took = dt.datetime.now(dt.UTC) - started
    assert not failures, f"{len(failures)} failure(s) in {took}:\n\n" + "\n\n".join(failures)
