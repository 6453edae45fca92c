"""API tokens: shown once, stored hashed, revocable, expiring; roles gate the endpoints."""

import datetime as dt
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from typer.testing import CliRunner, Result

from api.app import create_app
from catalogue.store import load_catalogue
from catalogue.validation import read_catalogue
from sera.cli import app as cli
from sera.settings import DEFAULT_CATALOGUE, Settings, get_settings
from sera.tokens import ApiToken, TokenProblem, authenticate, create_token, revoke_token


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def tokens_cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    monkeypatch.setenv("SERA_DATABASE_URL", database_url)

    def run(*args: str) -> Result:
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(cli, ["tokens", "create", *args])
        finally:
            get_settings.cache_clear()

    return run


def test_cli_prints_the_token_alone_on_its_last_line_and_keeps_only_a_hash(
    tokens_cli: Callable[..., Result], session: Session
) -> None:
    load_catalogue(session, read_catalogue(DEFAULT_CATALOGUE), source="test")
    session.commit()
    result = tokens_cli("--role", "partner", "--organisation", "SM-01")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("sera_") and len(token) > 40
    rows = session.exec(select(ApiToken)).all()
    assert len(rows) == 1
    assert token not in (rows[0].token_hash, rows[0].hint) and rows[0].hint == token[:10]
    principal = authenticate(session, token)
    assert principal is not None and (principal.role, principal.organisation) == ("partner", "SM-01")


def test_cli_refuses_a_token_for_0_or_fewer_days_and_never_expires_only_when_asked(
    tokens_cli: Callable[..., Result], session: Session
) -> None:
    for days in ("0", "-3"):
        refused = tokens_cli("--role", "viewer", "--days", days)
        assert refused.exit_code == 1 and "at least 1 day" in refused.output and "--no-expiry" in refused.output
    assert session.exec(select(ApiToken)).all() == []
    assert tokens_cli("--role", "viewer", "--days", "2", "--no-expiry").exit_code == 1
    assert tokens_cli("--role", "viewer", "--days", "2").exit_code == 0
    assert tokens_cli("--role", "viewer", "--no-expiry").exit_code == 0
    assert tokens_cli("--role", "viewer").exit_code == 0
    lifetimes = [
        None if t.expires_at is None else round((t.expires_at - t.created_at).total_seconds() / 86400)
        for t in session.exec(select(ApiToken).order_by(ApiToken.id))
    ]
    assert lifetimes == [2, None, 365]
    with pytest.raises(TokenProblem, match="at least 1 day"):
        create_token(session, "admin", days=0)


def test_a_partner_token_names_an_organisation_of_the_catalogue(
    tokens_cli: Callable[..., Result], session: Session
) -> None:
    no_catalogue = tokens_cli("--role", "partner", "--organisation", "SM-01")
    assert no_catalogue.exit_code == 1 and "sera catalogue load" in no_catalogue.output
    load_catalogue(session, read_catalogue(DEFAULT_CATALOGUE), source="test")
    session.commit()
    for code in ("NOPE-99", "unknown", "sm-01"):
        refused = tokens_cli("--role", "partner", "--organisation", code)
        assert refused.exit_code == 1 and f"no partner organisation '{code}'" in refused.output, refused.output
        assert "SM-01" in refused.output
    assert session.exec(select(ApiToken)).all() == []
    with pytest.raises(TokenProblem, match="no partner organisation 'X'"):
        create_token(session, "partner", organisation="X", organisations={"SM-01"})


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
