"""Central session login as an httpx auth flow: log in on first use, log in again once when a session expires.

A session token lasts 24 h by default and can be revoked at any time, so a long sync must survive a 401 in the
middle of a run: the flow logs in again and replays the request once. A refused login is final (retrying a wrong
password only locks accounts), and neither the password nor the token ever appears in a repr, a log line or an
error. Expiry is detected from the server's 401 alone: comparing `expiresAt` with the local clock would turn any
clock skew between us and the server into a login storm.
"""

import logging
from collections.abc import Generator

import httpx

from sync.http import AuthenticationFailed, MalformedResponse
from sync.odk import urls
from sync.odk.errors import PLATFORM, problem

log = logging.getLogger(__name__)


class SessionAuth(httpx.Auth):
    """Bearer token from `POST /v1/sessions`, renewed once per request on a 401.

    A login that fails for a transient reason (429, 5xx) is handed back as the request's response, so the
    caller's retry loop treats it like any other transient failure and the whole flow runs again.
    """

    requires_response_body = True

    def __init__(self, base_url: str, email: str, password: str) -> None:
        self.email = email
        self._password = password
        self._login_url = base_url.rstrip("/") + urls.SESSIONS
        self._token: str | None = None
        self.logins = 0

    def __repr__(self) -> str:
        return f"SessionAuth(email={self.email!r})"

    @property
    def token(self) -> str | None:
        """The current session token, for logging out; None before the first login."""
        return self._token

    def forget(self) -> None:
        """Drop the session (after logging out), so the next request logs in again."""
        self._token = None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        fresh = False
        if self._token is None:
            login = yield self._login_request(request)
            if not self._accept_login(login):
                return
            fresh = True
        used = self._token
        request.headers["Authorization"] = f"Bearer {used}"
        response = yield request
        if response.status_code != 401 or fresh:
            return
        if self._token == used:  # not already renewed by another request since this one was sent
            log.info("Central session for %s was refused (expired or revoked); logging in again", self.email)
            self._token = None
            login = yield self._login_request(request)
            if not self._accept_login(login):
                return
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def _login_request(self, request: httpx.Request) -> httpx.Request:
        """The login, with the timeout and User-Agent of the request it authenticates (a bare Request has none)."""
        headers = {"User-Agent": request.headers["User-Agent"]} if "User-Agent" in request.headers else {}
        extensions = {"timeout": request.extensions["timeout"]} if "timeout" in request.extensions else {}
        return httpx.Request(
            "POST",
            self._login_url,
            json={"email": self.email, "password": self._password},
            headers=headers,
            extensions=extensions,
        )

    def _accept_login(self, response: httpx.Response) -> bool:
        """Keep the token of a successful login; raise on a refusal; False for anything the caller should retry."""
        self.logins += 1
        if response.status_code in (400, 401, 403):
            code, message = problem(response)
            raise AuthenticationFailed(
                f"Central refused the login of {self.email!r}: wrong email or password, a disabled account, or "
                f"password login turned off (OIDC); fix the connection's credentials "
                f"(Central {code or response.status_code}: {message or 'no message'})",
                platform=PLATFORM,
                method="POST",
                url=self._login_url,
                status=response.status_code,
                body=response.text,
            )
        if response.status_code != 200:
            return False
        try:
            token = response.json().get("token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise MalformedResponse(
                "the login answered 200 without a session token",
                platform=PLATFORM,
                method="POST",
                url=self._login_url,
                status=200,
                body="",  # the body holds a token (or something else): keep it out of errors
            )
        self._token = token
        log.info("logged in to Central as %s", self.email)
        return True
