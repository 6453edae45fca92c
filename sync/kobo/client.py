"""KoboToolbox KPI v2 client: submission pages for the sync engine, asset/import/deployment/media calls for forms.

Every call goes through `RetryingCaller` (transient failures retried, then `RetriesExhausted`) and
`raise_for_status` (one error tree). The token lives only in the httpx client's headers: it never appears in
reprs, logs or error messages, and it is never sent to another host (links from the server are re-aimed at the
configured origin).
"""

import logging
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote, urlsplit

import httpx

from sync.http import (
    DEFAULT_TIMEOUT,
    MalformedResponse,
    RemoteError,
    RequestRejected,
    RetriesExhausted,
    RetryingCaller,
    RetryPolicy,
    json_body,
    raise_for_status,
)
from sync.kobo.data import PLATFORM, KoboPage, data_params, parse_page

log = logging.getLogger(__name__)

DEFAULT_POLICY = RetryPolicy()
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
API = "/api/v2"
_IMPORT_IN_PROGRESS = frozenset({"created", "processing"})


class KoboClient:
    """One authenticated connection to a KPI server; use as a context manager or call `close()`."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        policy: RetryPolicy = DEFAULT_POLICY,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._root = _server_root(base_url)
        parts = urlsplit(self._root)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        if not isinstance(token, str) or not token or any(c.isspace() for c in token):
            raise ValueError("the Kobo token must be a non-empty string without spaces")
        self._http = httpx.Client(
            base_url=self._root,
            headers={"Authorization": f"Token {token}", "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )
        self._caller = RetryingCaller(self._http, PLATFORM, policy=policy, sleep=sleep)
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"KoboClient({self._root!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @property
    def retries(self) -> int:
        """Transient failures retried so far (for the sync run's statistics)."""
        return self._caller.retries

    # -- submissions -------------------------------------------------------------------------------------------

    def data_page(
        self,
        asset_uid: str,
        *,
        query: dict[str, Any] | None = None,
        sort: dict[str, int] | None = None,
        fields: list[str] | None = None,
        limit: int = 1000,
        start: int = 0,
    ) -> KoboPage:
        """One page of submissions, always with explicit `limit` and `sort` (default `{"_id": 1}`).

        The server silently caps `limit` (1000 by default), so follow `next` rather than counting results.
        """
        params = data_params(query=query, sort=sort, fields=fields, limit=limit, start=start)
        response = self._send("GET", _asset_path(asset_uid, "data/"), f"list submissions of asset {asset_uid}", params)
        page = parse_page(response, asset_uid=asset_uid, page=f"start={start}")
        log.debug("kobo asset %s start=%d: %d of %d", asset_uid, start, len(page.results), page.count)
        return page

    def follow(self, next_url: str) -> KoboPage:
        """The page a `next` link points to, validated like `data_page`."""
        path = urlsplit(next_url).path
        segments = path.rstrip("/").split("/")
        if len(segments) < 3 or segments[-1] not in ("data", "data.json") or segments[-3] != "assets":
            raise ValueError(f"not a Kobo data link: {next_url!r}")
        asset_uid = segments[-2]
        start = httpx.URL(next_url).params.get("start", "0")
        response = self._send("GET", self._same_origin(next_url), f"list submissions of asset {asset_uid}")
        return parse_page(response, asset_uid=asset_uid, page=f"start={start}")

    def get_submission(self, asset_uid: str, submission_id: int) -> dict[str, Any] | None:
        """The submission with this `_id`, or None when the server says it does not exist.

        None is returned only for Kobo's own 404 `{"detail": "Not found."}` and only once the asset itself is
        confirmed visible: Kobo also answers 404 when the token lost access, which must not look like a deletion.
        """
        if type(submission_id) is not int or submission_id < 1:
            raise ValueError(f"submission_id must be a positive int, got {submission_id!r}")
        path = _asset_path(asset_uid, f"data/{submission_id}/")
        what = f"get submission {submission_id} of asset {asset_uid}"
        response = self._caller.request("GET", path, params={"format": "json"})
        if response.status_code == 404 and _is_not_found(response):
            self.get_asset(asset_uid)
            return None
        self._check(response, what)
        record = self._json_object(response, what)
        if record.get("_id") != submission_id:
            raise self._malformed(response, f"{what}: the server returned _id {record.get('_id')!r}")
        return record

    # -- assets -----------------------------------------------------------------------------------------------

    def create_asset(self, name: str) -> dict[str, Any]:
        """Create an empty survey asset (the XLSForm is imported into it afterwards)."""
        what = f"create asset {name!r}"
        response = self._send(
            "POST", f"{API}/assets/", what, json={"name": name, "asset_type": "survey"}, idempotent=False
        )
        return self._with_uid(response, what)

    def get_asset(self, uid: str) -> dict[str, Any]:
        what = f"get asset {uid}"
        return self._with_uid(self._send("GET", _asset_path(uid), what, {"format": "json"}), what)

    def list_assets(self, *, q: str | None = None) -> Iterator[dict[str, Any]]:
        """Every asset the token can see, page after page; `q` is KPI's search syntax (`asset_type:survey`)."""
        params: dict[str, str] = {"format": "json"}
        if q:
            params["q"] = q
        yield from self._paged(f"{API}/assets/", params, "list assets")

    # -- imports and deployment -------------------------------------------------------------------------------

    def import_xlsform(self, asset_uid: str, xlsx: bytes, filename: str) -> str:
        """Start an asynchronous import replacing the asset's content; returns the import uid to wait for.

        `library=false` is sent because KPI reads a missing flag as "import into the library" (an undeployable
        block).
        """
        what = f"import XLSForm {filename!r} into asset {asset_uid}"
        response = self._send(
            "POST",
            f"{API}/imports/",
            what,
            data={"destination": f"{self._root}{_asset_path(asset_uid)}", "library": "false"},
            files={"file": (filename, xlsx, XLSX_MIMETYPE)},
            idempotent=False,
        )
        return self._with_uid(response, what)["uid"]

    def wait_import(self, import_uid: str, *, timeout: float, poll_interval: float) -> dict[str, Any]:
        """Poll an import until it is `complete` (returned) or `error` (RequestRejected with the server's words)."""
        what = f"import {import_uid}"
        started, waited = time.monotonic(), 0.0
        while True:
            response = self._send("GET", f"{API}/imports/{quote(import_uid, safe='')}/", what, {"format": "json"})
            task = self._json_object(response, what)
            status = task.get("status")
            if status == "complete":
                return task
            if status == "error":
                messages = task.get("messages") or {}
                detail = f"{messages.get('error_type', 'error')}: {messages.get('error', messages)}"
                raise RequestRejected(
                    f"{what} failed: {detail}",
                    platform=PLATFORM,
                    method="GET",
                    url=str(response.request.url),
                    status=response.status_code,
                    body=response.text,
                )
            if status not in _IMPORT_IN_PROGRESS:
                raise self._malformed(response, f"{what}: unknown import status {status!r}")
            if max(waited, time.monotonic() - started) >= timeout:
                raise RetriesExhausted(
                    f"{what} still {status} after {timeout:g} s", platform=PLATFORM, url=str(response.request.url)
                )
            self._sleep(poll_interval)
            waited += poll_interval

    def deploy(self, asset_uid: str, version_id: str) -> dict[str, Any]:
        """Deploy `version_id` (it must be the asset's current version): POST the first time, PATCH afterwards.

        A PATCH carrying `version_id` is a full redeploy, which is also what pushes changed media to the phones;
        a PATCH with `active` alone would only (un)archive.
        """
        what = f"deploy version {version_id} of asset {asset_uid}"
        path = _asset_path(asset_uid, "deployment/")
        body = {"active": True, "version_id": version_id}
        if self.get_asset(asset_uid).get("has_deployment"):
            return self._deployment(self._send("PATCH", path, what, json=body), what)
        return self._deployment(self._send("POST", path, what, json=body, idempotent=False), what)

    # -- form media -------------------------------------------------------------------------------------------

    def list_media(self, asset_uid: str) -> list[dict[str, Any]]:
        """The asset's live form media (the asset's own `files` field also lists deleted ones)."""
        params = {"file_type": "form_media", "format": "json"}
        files = self._paged(_asset_path(asset_uid, "files/"), params, f"list media of asset {asset_uid}")
        return [item for item in files if item.get("file_type") == "form_media"]

    def upload_media(
        self, asset_uid: str, filename: str, content: bytes, mimetype: str, *, description: str | None = None
    ) -> dict[str, Any]:
        """Upload one media file; KPI refuses a filename that is already live, so delete the old one first."""
        what = f"upload media {filename!r} to asset {asset_uid}"
        response = self._send(
            "POST",
            _asset_path(asset_uid, "files/"),
            what,
            data={"file_type": "form_media", "description": description or filename},
            files={"content": (filename, content, mimetype)},
            idempotent=False,
        )
        return self._with_uid(response, what)

    def delete_media(self, asset_uid: str, file_uid: str) -> None:
        self._send("DELETE", _asset_path(asset_uid, f"files/{quote(file_uid, safe='')}/"), f"delete media {file_uid}")

    # -- plumbing ---------------------------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        what: str,
        params: dict[str, Any] | None = None,
        *,
        idempotent: bool = True,
        **kwargs: Any,
    ) -> httpx.Response:
        response = self._caller.request(method, url, params=params, idempotent=idempotent, **kwargs)
        self._check(response, what)
        return response

    def _check(self, response: httpx.Response, what: str) -> None:
        if 300 <= response.status_code < 400:
            location = response.headers.get("location", "?")
            raise self._malformed(response, f"{what}: unexpected redirect to {location} (check the base URL)")
        raise_for_status(response, PLATFORM, what)

    def _paged(self, path: str, params: dict[str, str], what: str) -> Iterator[dict[str, Any]]:
        url: str | None = path
        query: dict[str, str] | None = params
        while url is not None:
            response = self._send("GET", url, what, query)
            page = self._json_object(response, what)
            results, next_url = page.get("results"), page.get("next")
            if not isinstance(results, list) or not all(isinstance(item, dict) for item in results):
                raise self._malformed(response, f"{what}: results is not a list of objects")
            if next_url is not None and not isinstance(next_url, str):
                raise self._malformed(response, f"{what}: next is neither null nor a URL")
            yield from results
            # the link carries every parameter; passing params (even {}) would make httpx replace its query
            url, query = (self._same_origin(next_url) if next_url else None), None

    def _same_origin(self, link: str) -> str:
        """Aim a server-built link at our own origin: a proxy may advertise another host, and the token stays here."""
        parts = urlsplit(link)
        return f"{self._origin}{parts.path}" + (f"?{parts.query}" if parts.query else "")

    def _json_object(self, response: httpx.Response, what: str) -> dict[str, Any]:
        body = json_body(response, PLATFORM)
        if not isinstance(body, dict):
            raise self._malformed(response, f"{what}: expected a JSON object, got {type(body).__name__}")
        return body

    def _with_uid(self, response: httpx.Response, what: str) -> dict[str, Any]:
        body = self._json_object(response, what)
        if not isinstance(body.get("uid"), str):
            raise self._malformed(response, f"{what}: the answer has no uid")
        return body

    def _deployment(self, response: httpx.Response, what: str) -> dict[str, Any]:
        body = self._json_object(response, what)
        if not isinstance(body.get("version_id"), str):
            raise self._malformed(response, f"{what}: the deployment has no version_id")
        return body

    @staticmethod
    def _malformed(response: httpx.Response, message: str) -> RemoteError:
        return MalformedResponse.from_response(message, response, PLATFORM)


def _server_root(base_url: str) -> str:
    """`https://host[/prefix]` without a trailing slash; a trailing `/api/v2` is tolerated and dropped."""
    root = base_url.strip().rstrip("/")
    if root.endswith(API):
        root = root[: -len(API)]
    parts = urlsplit(root)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"the Kobo base URL must look like https://kf.example.org, got {base_url!r}")
    return root


def _asset_path(uid: str, rest: str = "") -> str:
    return f"{API}/assets/{quote(uid, safe='')}/{rest}"


def _is_not_found(response: httpx.Response) -> bool:
    """Kobo's own 404 body, as opposed to a proxy's page or a route that does not exist."""
    try:
        return response.json() == {"detail": "Not found."}
    except ValueError:
        return False
