"""Bearer-token authentication and role checks for the API."""

from collections.abc import Callable
from typing import Annotated, ClassVar

from fastapi import Depends, Request

from api.deps import SessionDep
from api.errors import ApiError
from sera.tokens import Principal, authenticate


class Unauthorized(ApiError):
    status_code = 401
    code = "unauthorized"
    headers: ClassVar[dict[str, str] | None] = {"WWW-Authenticate": "Bearer"}


class Forbidden(ApiError):
    status_code = 403
    code = "forbidden"


def get_principal(request: Request, session: SessionDep) -> Principal:
    """The caller behind `Authorization: Bearer <token>`; 401 when missing, unknown, revoked or expired."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send `Authorization: Bearer <token>` (make one with `sera tokens create`)")
    principal = authenticate(session, token.strip())
    if principal is None:
        raise Unauthorized("the token is unknown, revoked or expired")
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(*roles: str) -> Callable[[Principal], Principal]:
    """A dependency that lets only these roles through (403 for the others)."""

    def check(principal: PrincipalDep) -> Principal:
        if principal.role not in roles:
            raise Forbidden(f"the {principal.role} role cannot do this (needs {' or '.join(roles)})")
        return principal

    return check


AdminDep = Annotated[Principal, Depends(require("admin"))]
StaffDep = Annotated[Principal, Depends(require("admin", "staff"))]
