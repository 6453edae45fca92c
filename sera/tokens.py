"""API tokens: random, shown once, stored as a hash, revocable, expiring; each carries a role.

Roles: `admin` (the SERA officer: everything), `staff` (read everything, no token management), `partner` (its own
organisation's data only), `viewer` (aggregated values only).
"""

import datetime as dt
import hashlib
import secrets
from collections.abc import Collection
from dataclasses import dataclass

from sqlmodel import Field, Session, SQLModel, col, select

from catalogue.tables import UtcDateTime, utcnow

ROLES = ("admin", "staff", "partner", "viewer")
TOKEN_PREFIX = "sera_"


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    hint: str = Field(max_length=16)
    """The first characters, so a person can tell tokens apart in a list."""
    role: str = Field(max_length=16)
    organisation: str | None = Field(default=None, max_length=64)
    label: str | None = Field(default=None, max_length=200)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    expires_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)


class TokenProblem(Exception):
    """A token that cannot be made as asked."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: a role and, for partners, the organisation they may see."""

    token_id: int
    role: str
    organisation: str | None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(
    session: Session,
    role: str,
    *,
    organisation: str | None = None,
    days: int | None = 365,
    label: str | None = None,
    organisations: Collection[str] | None = None,
) -> tuple[ApiToken, str]:
    """A new token; the clear value is returned once and never stored.

    `days=None` makes a token that never expires (asked for explicitly: `--no-expiry`); 0 or fewer days is refused
    rather than read as "never". `organisations`, when given, are the partner codes of the loaded catalogue: a
    partner token for any other code would open an API view of an organisation that does not exist.
    """
    if role not in ROLES:
        raise TokenProblem(f"unknown role '{role}': use one of {', '.join(ROLES)}")
    if role == "partner" and not organisation:
        raise TokenProblem("a partner token needs --organisation (the partner's code in the catalogue)")
    if role != "partner" and organisation:
        raise TokenProblem("only partner tokens are limited to an organisation")
    if days is not None and days < 1:
        raise TokenProblem(f"a token lasts at least 1 day (got {days}); `--no-expiry` makes one that never expires")
    if role == "partner" and organisations is not None and organisation not in organisations:
        known = ", ".join(sorted(organisations)) or "none"
        raise TokenProblem(f"no partner organisation '{organisation}' in the loaded catalogue (known: {known})")
    clear = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = utcnow() + dt.timedelta(days=days) if days is not None else None
    row = ApiToken(
        token_hash=_digest(clear),
        hint=clear[:10],
        role=role,
        organisation=organisation,
        label=label,
        expires_at=expires,
    )
    session.add(row)
    session.flush()
    return row, clear


def authenticate(session: Session, presented: str) -> Principal | None:
    """The principal of a valid token; None when unknown, revoked or expired."""
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == _digest(presented))).first()
    if row is None or row.id is None:
        return None
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= utcnow()):
        return None
    return Principal(token_id=row.id, role=row.role, organisation=row.organisation)


def revoke_token(session: Session, token_id: int) -> bool:
    row = session.get(ApiToken, token_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    session.add(row)
    return True


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.exec(select(ApiToken).order_by(col(ApiToken.id))))
