"""API tokens: shown once, stored hashed, revocable, expiring; roles gate the endpoints."""

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from typer.testing import CliRunner

from api.app import create_app
from sera.cli import app as cli
from sera.settings import Settings, get_settings
from sera.tokens import ApiToken, TokenProblem, authenticate, create_token, revoke_token


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_cli_prints_the_token_alone_on_its_last_line_and_keeps_only_a_hash(
    database_url: str, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERA_DATABASE_URL", database_url)
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, ["tokens", "create", "--role", "partner", "--organisation", "ASS-AGD-01"])
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("sera_") and len(token) > 40
    rows = session.exec(select(ApiToken)).all()
    assert len(rows) == 1
    assert token not in (rows[0].token_hash, rows[0].hint) and rows[0].hint == token[:10]
    principal = authenticate(session, token)
    assert principal is not None and (principal.role, principal.organisation) == ("partner", "ASS-AGD-01")


def test_partner_tokens_need_an_organisation_and_roles_are_checked(session: Session) -> None:
    with pytest.raises(TokenProblem, match="needs --organisation"):
        create_token(session, "partner")
    with pytest.raises(TokenProblem, match="unknown role 'root'"):
        create_token(session, "root")
    with pytest.raises(TokenProblem, match="only partner tokens"):
        create_token(session, "viewer", organisation="X")


def test_missing_unknown_revoked_and_expired_tokens_get_401(client: TestClient, session: Session) -> None:
    assert client.get("/api/v1/sync/status").status_code == 401
    response = client.get("/api/v1/sync/status", headers=bearer("sera_nope"))
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized", "detail": "the token is unknown, revoked or expired"}
    assert response.headers["WWW-Authenticate"] == "Bearer"
    revoked, revoked_clear = create_token(session, "admin")
    expired, expired_clear = create_token(session, "admin")
    expired.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    session.add(expired)
    assert revoked.id is not None and revoke_token(session, revoked.id)
    session.commit()
    assert client.get("/api/v1/sync/status", headers=bearer(revoked_clear)).status_code == 401
    assert client.get("/api/v1/sync/status", headers=bearer(expired_clear)).status_code == 401


def test_roles_gate_sync_endpoints(client: TestClient, session: Session) -> None:
    tokens = {
        role: create_token(session, role, organisation="P1" if role == "partner" else None)[1]
        for role in ("admin", "staff", "partner", "viewer")
    }
    session.commit()
    for role, expected in {"admin": 200, "staff": 200, "partner": 403, "viewer": 403}.items():
        assert client.get("/api/v1/sync/status", headers=bearer(tokens[role])).status_code == expected, role
    forbidden = client.post("/api/v1/sync/runs", headers=bearer(tokens["staff"]))
    assert forbidden.status_code == 403
    assert forbidden.json() == {"error": "forbidden", "detail": "the staff role cannot do this (needs admin)"}
    assert client.post("/api/v1/sync/runs", headers=bearer(tokens["admin"])).json() == {
        "error": "not_found",
        "detail": "no deployed or linked form matches",
    }
