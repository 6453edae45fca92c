"""Central's problem codes on top of the shared error tree.

Central answers errors as `{"message", "code", "details"}` where `code` is the HTTP status plus a subcode
(`409.6`). Two of them change what a caller does next, so they get their own `RequestRejected` subclasses;
everything else goes through `sync.http.raise_for_status` unchanged.
"""

import json
from typing import Any

import httpx

from sync.http import RequestRejected, raise_for_status

PLATFORM = "odk"


class AlreadyExists(RequestRejected):
    """409.3: the object (form, assignment, submission…) is already there."""


class VersionAlreadyPublished(RequestRejected):
    """409.6: a published version of this form already used that version string; pick another."""


def problem(response: httpx.Response) -> tuple[str | None, str]:
    """`(code, message)` of a Central problem body; the code keeps its text (`"501.11"`, not a float)."""
    try:
        body: Any = json.loads(response.content, parse_float=str)
    except ValueError:
        return None, ""
    if not isinstance(body, dict):
        return None, ""
    code = body.get("code")
    message = body.get("message")
    return (str(code) if code is not None else None), (message if isinstance(message, str) else "")


def check(response: httpx.Response, what: str) -> None:
    """Raise the matching RemoteError for an error status, naming Central's own code and message."""
    if response.status_code < 400:
        return
    code, message = problem(response)
    special = {"409.3": AlreadyExists, "409.6": VersionAlreadyPublished}.get(code or "")
    if special is not None:
        raise special.from_response(f"{what}: {message} (Central {code})", response, PLATFORM)
    raise_for_status(response, PLATFORM, what)
