"""HTTP plumbing shared by the Kobo and ODK Central clients: timeouts, retries with backoff, one error tree.

httpx retries connection failures only (`HTTPTransport(retries=N)`); 429 and gateway errors are ours to retry.
Errors split into transient ones (retried, then `RetriesExhausted`) and permanent ones (raised at once), and
every error names the platform, the method and the URL, never the credentials.
"""

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

import httpx

RETRY_STATUSES = frozenset({429, 502, 503, 504})
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=150.0, write=60.0, pool=10.0)
"""Kobo lets a request run ~120 s before its proxy gives up, so reads wait a little longer than that."""


class RemoteError(Exception):
    """A server answered something we cannot use; names where, never the credentials."""

    def __init__(
        self, message: str, *, platform: str, method: str = "", url: str = "", status: int | None = None, body: str = ""
    ) -> None:
        self.platform = platform
        self.method = method
        self.url = _redact(url)
        self.status = status
        self.body = body[:500]
        where = f" ({method} {self.url})" if method else ""
        status_text = f" HTTP {status}" if status is not None else ""
        super().__init__(f"{platform}{status_text}: {message}{where}")

    @classmethod
    def from_response(cls, message: str, response: httpx.Response, platform: str) -> Self:
        """The error for a response the server sent: its method, URL, status and body go with the message."""
        request = response.request
        return cls(
            message,
            platform=platform,
            method=request.method,
            url=str(request.url),
            status=response.status_code,
            body=response.text,
        )


class AuthenticationFailed(RemoteError):
    """The token or password was refused: fix the connection's credentials; retrying will not help."""


class NotFound(RemoteError):
    """The server has no such object (or hides it from these credentials, as Kobo does with 404)."""


class RequestRejected(RemoteError):
    """A 4xx other than auth and not-found: the request itself is wrong for this server."""


class ServerFailed(RemoteError):
    """A 5xx that is not worth retrying (Kobo raises plain exceptions as 500 for some client mistakes)."""


class MalformedResponse(RemoteError):
    """The server answered 2xx with a body that does not follow the contract (broken JSON, missing keys)."""


class RetriesExhausted(RemoteError):
    """Transient failures (timeouts, 429, 502-504) went on past the retry budget."""


def _redact(url: str) -> str:
    """Drop secrets that travel in URLs: ODK app-user keys live in the path (`/v1/key/{token}/…`)."""
    parts = url.split("/key/", 1)
    if len(parts) == 2:
        rest = parts[1].split("/", 1)
        return parts[0] + "/key/***" + ("/" + rest[1] if len(rest) == 2 else "")
    return url


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: capped exponential backoff with full jitter, honouring `Retry-After`."""

    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 300.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` as seconds (it may be a number of seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass
class RetryingCaller:
    """Sends requests through an httpx.Client, retrying transient failures; counts what it retried."""

    client: httpx.Client
    platform: str
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    retries: int = 0

    def request(self, method: str, url: str, *, idempotent: bool = True, **kwargs: Any) -> httpx.Response:
        """Send once or more; returns the first non-transient response, whatever its status.

        A non-idempotent request (creating something) is retried only when the server cannot have acted on it:
        a failed connection, 429 or 503. A timeout or a 502/504 after sending might have been processed.
        """
        for attempt in range(self.policy.attempts):
            last = attempt == self.policy.attempts - 1
            try:
                response = self.client.request(method, url, **kwargs)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
                if last:
                    raise RetriesExhausted(
                        f"cannot connect: {error}", platform=self.platform, method=method, url=url
                    ) from error
                self._wait(attempt, None)
                continue
            except httpx.TransportError as error:
                if last or not idempotent:
                    raise RetriesExhausted(
                        f"{type(error).__name__}: {error}", platform=self.platform, method=method, url=url
                    ) from error
                self._wait(attempt, None)
                continue
            retryable = response.status_code in RETRY_STATUSES and (idempotent or response.status_code in (429, 503))
            if not retryable:
                return response
            if last:
                raise RetriesExhausted(
                    f"still failing after {self.policy.attempts} attempts",
                    platform=self.platform,
                    method=method,
                    url=url,
                    status=response.status_code,
                    body=response.text,
                )
            response.close()
            self._wait(attempt, parse_retry_after(response.headers.get("Retry-After")))
        raise AssertionError("unreachable: the loop returns or raises")

    def _wait(self, attempt: int, retry_after: float | None) -> None:
        self.retries += 1
        self.sleep(self.policy.delay(attempt, retry_after, self.rng))


def raise_for_status(response: httpx.Response, platform: str, what: str = "") -> None:
    """Turn an error status into the matching RemoteError, keeping the server's own message."""
    status = response.status_code
    if status < 400:
        return
    body = response.text
    message = what or "request failed"
    if status == 401 or (status == 403 and platform == "odk"):
        # ODK Central answers 403 to a bad app-user key on purpose (for Collect); Kobo's 403 is a permission.
        raise AuthenticationFailed.from_response(
            f"{message}: credentials refused or insufficient ({body[:200]})", response, platform
        )
    if status == 404:
        raise NotFound.from_response(f"{message}: not found", response, platform)
    if status < 500:
        raise RequestRejected.from_response(f"{message}: {body[:300]}", response, platform)
    raise ServerFailed.from_response(f"{message}: server error {body[:300]}", response, platform)


def json_body(response: httpx.Response, platform: str) -> Any:
    """The JSON body of a 2xx response, or MalformedResponse saying what came instead."""
    try:
        return response.json()
    except ValueError as error:
        content_type = response.headers.get("content-type", "no content type")
        raise MalformedResponse.from_response(
            f"expected JSON, got {content_type}: {response.text[:200]!r}", response, platform
        ) from error
