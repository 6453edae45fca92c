"""ODK Central client for the sync engine and form deployment: OData pages, forms, drafts, app users.

Every request goes through `sync.http.RetryingCaller` (timeouts, backoff, `Retry-After`), authenticates with
`SessionAuth` and turns error statuses into the shared `RemoteError` tree, keeping Central's problem code.
Creating requests (new form, publish, new app user) are sent with `idempotent=False`, so they are only retried
when the server cannot have acted on them. One client per thread: the session token is not locked.
"""

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, Self

import httpx

from sync.http import DEFAULT_TIMEOUT, MalformedResponse, NotFound, RetryingCaller, RetryPolicy, json_body
from sync.odk import urls
from sync.odk.auth import SessionAuth
from sync.odk.errors import PLATFORM, AlreadyExists, check, problem
from sync.odk.odata import ODataPage, parse_page

log = logging.getLogger(__name__)

USER_AGENT = "sera-sync (ODK Central client)"


class CentralClient:
    """A logged-in connection to one Central server, as one user (email + password)."""

    def __init__(
        self,
        base_url: str,
        email: str,
        password: str,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        policy: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen dataclass, safe as a default
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = _server_root(base_url)
        self._auth = SessionAuth(self.base_url, email, password)
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=self._auth,
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": USER_AGENT},
        )
        self._caller = RetryingCaller(self._http, PLATFORM, policy=policy, sleep=sleep)
        self._deleted_at: bool | None = None
        self._id_filter: bool | None = None
        self._roles: dict[str, int] | None = None

    def __repr__(self) -> str:
        return f"CentralClient(base_url={self.base_url!r}, email={self._auth.email!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def retries(self) -> int:
        """Transient failures retried so far (for the run's statistics)."""
        return self._caller.retries

    @property
    def logins(self) -> int:
        """Session logins attempted so far (1 per run, plus 1 per expired session)."""
        return self._auth.logins

    def close(self) -> None:
        """Log out (best effort: a session left behind expires by itself) and close the connections."""
        token = self._auth.token
        if token is not None:
            try:  # a bare `httpx.Auth()`: an expired session must not log in again just to log out
                self._http.delete(
                    urls.CURRENT_SESSION, auth=httpx.Auth(), headers={"Authorization": f"Bearer {token}"}, timeout=5.0
                )
            except httpx.HTTPError as error:
                log.warning("could not log out of Central at %s: %s", self.base_url, type(error).__name__)
            self._auth.forget()
        self._http.close()

    # -- plumbing ---------------------------------------------------------------------------------------

    def _send(self, method: str, path: str, what: str, *, idempotent: bool = True, **kwargs: Any) -> httpx.Response:
        response = self._caller.request(method, path, idempotent=idempotent, **kwargs)
        check(response, what)
        return response

    def _json(self, method: str, path: str, what: str, *, idempotent: bool = True, **kwargs: Any) -> Any:
        return json_body(self._send(method, path, what, idempotent=idempotent, **kwargs), PLATFORM)

    def _json_object(self, method: str, path: str, what: str, **kwargs: Any) -> dict[str, Any]:
        body = self._json(method, path, what, **kwargs)
        if not isinstance(body, dict):
            raise MalformedResponse(f"{what}: expected a JSON object", platform=PLATFORM, method=method, url=path)
        return body

    def _json_list(self, path: str, what: str) -> list[dict[str, Any]]:
        body = self._json("GET", path, what)
        if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
            raise MalformedResponse(
                f"{what}: expected a JSON list of objects", platform=PLATFORM, method="GET", url=path
            )
        return body

    # -- OData ------------------------------------------------------------------------------------------

    def odata_page(
        self,
        project_id: int,
        form_id: str,
        *,
        filter: str | None = None,
        top: int = 1000,
        expand: bool = True,
        select: str | None = None,
        count: bool = False,
        table: str = "Submissions",
    ) -> ODataPage:
        """First page of `….svc/<table>` (newest first); follow `next_link` with `follow()`.

        :param filter: an OData `$filter` on the filterable fields (`__system/submissionDate`, `updatedAt`,
            `submitterId`, `reviewState`, `deletedAt` on 2024.3+); form fields give 501.5.
        :param top: page size; always sent, so no request ever asks for a whole form.
        :param expand: inline repeats (`$expand=*`); ignored with `select`, since Central refuses both (501.11).
        :param select: `$select` (`__id`, `__system`, `__system/x`, fields, groups).
        :param count: ask for `@odata.count` (the total matching `filter`, ignoring paging).
        :param table: `Submissions` or a repeat table such as `Submissions.people`.

        No `$orderby` is ever sent: Central refuses to follow a nextLink of an ordered query (501.1).
        """
        if top < 0:
            raise ValueError(f"top must be >= 0, got {top}")
        params: dict[str, str] = {"$top": str(top)}
        if filter:
            params["$filter"] = filter
        if select:
            params["$select"] = select
        elif expand:
            params["$expand"] = "*"
        if count:
            params["$count"] = "true"
        path = urls.path(urls.ODATA_TABLE, project_id=project_id, form_id=form_id, table=table)
        response = self._send("GET", path, f"read {table} of form {form_id!r}", params=params)
        return parse_page(response)

    def follow(self, next_link: str) -> ODataPage:
        """The page an `@odata.nextLink` points to; its query (with `$skiptoken`) is sent exactly as given.

        Only the path and query are taken from the link: Central writes links with its configured domain, which
        may not be how we reach it, and the session token must never go to a host other than `base_url`.
        """
        start = next_link.find("/v1/")
        if start < 0:
            raise MalformedResponse(
                f"'@odata.nextLink' is not a Central API link: {next_link[:200]!r}", platform=PLATFORM
            )
        response = self._send("GET", self.base_url + next_link[start:], "read the next OData page")
        return parse_page(response)

    def pages(self, project_id: int, form_id: str, **options: Any) -> Iterator[ODataPage]:
        """Every page of a query, one at a time (memory stays at one page); options as for `odata_page`."""
        page = self.odata_page(project_id, form_id, **options)
        yield page
        while page.next_link is not None:
            page = self.follow(page.next_link)
            yield page

    def supports_deleted_at(self, project_id: int, form_id: str) -> bool:
        """Whether `__system/deletedAt` can be filtered on (Central 2024.3+); probed once per client.

        The probe asks for no rows and sends no `$select`: on v2024.2 an unsupported field in both `$filter`
        and `$select` crashed the server process.
        """
        if self._deleted_at is None:
            self._deleted_at = self._filters_on(project_id, form_id, "__system/deletedAt eq null")
            log.info("Central at %s filters on __system/deletedAt: %s", self.base_url, self._deleted_at)
        return self._deleted_at

    def filters_on_id(self, project_id: int, form_id: str) -> bool:
        """Whether `$filter` accepts `__id` (newer than v2024.2, which answers 501.5); probed once per client."""
        if self._id_filter is None:
            self._id_filter = self._filters_on(project_id, form_id, "__id eq ''")
        return self._id_filter

    def _filters_on(self, project_id: int, form_id: str, expression: str) -> bool:
        """Whether the server accepts this OData `$filter` (an older Central answers 501.5); asks for no rows."""
        path = urls.path(urls.ODATA_TABLE, project_id=project_id, form_id=form_id, table="Submissions")
        response = self._caller.request("GET", path, params={"$filter": expression, "$top": "0"})
        if response.status_code == 501 and problem(response)[0] == "501.5":
            return False
        check(response, f"probe $filter={expression} on form {form_id!r}")
        return True

    def submission_exists(self, project_id: int, form_id: str, instance_id: str) -> bool:
        """Whether the server holds this live submission; False ONLY when Central proves it absent.

        Asks the REST submission, which answers for any instance id, so a 404.1 means "no such live submission"
        (deleted or purged) once the form itself is confirmed readable: a form deleted or out of reach also
        answers 404.1 and must not turn its rows into tombstones. Anything else that is not a 200 raises
        (5xx and timeouts after retries, 403, a 404 without Central's problem body, a redirect), so a caller
        never takes an answer that proves nothing for a deletion.
        """
        path = urls.path(urls.SUBMISSION, project_id=project_id, form_id=form_id, instance_id=instance_id)
        what = f"read submission {instance_id!r} of form {form_id!r}"
        response = self._caller.request("GET", path)
        if response.status_code == 404 and problem(response)[0] == "404.1":
            if self.get_form(project_id, form_id) is None:
                raise NotFound(f"{what}: the form itself is gone", platform=PLATFORM, method="GET", url=path)
            return False
        check(response, what)
        if response.status_code != 200:
            raise MalformedResponse.from_response(f"{what}: unexpected {response.status_code}", response, PLATFORM)
        body = json_body(response, PLATFORM)
        if not isinstance(body, dict) or body.get("instanceId") != instance_id:
            raise MalformedResponse.from_response(f"{what}: not this submission", response, PLATFORM)
        return True

    def get_submission(self, project_id: int, form_id: str, instance_id: str) -> dict[str, Any] | None:
        """One live submission as an OData row with repeats, found by `__id` whatever its shape; None if not found.

        None does NOT prove a deletion (use `submission_exists`). Servers that filter on `__id` are asked
        `__id eq '…'` (quotes doubled); v2024.2 cannot, so the REST submission gives its `createdAt` and the
        row is picked by `__id` from the rows submitted in that millisecond.
        """
        if self.filters_on_id(project_id, form_id):
            where = f"__id eq {urls.odata_string(instance_id)}"
        else:
            path = urls.path(urls.SUBMISSION, project_id=project_id, form_id=form_id, instance_id=instance_id)
            try:
                meta = self._json_object("GET", path, f"read submission {instance_id!r} of form {form_id!r}")
            except NotFound:
                return None
            created = _parse_time(meta.get("createdAt"))
            if created is None:
                raise MalformedResponse(
                    f"submission {instance_id!r} of form {form_id!r}: no createdAt", platform=PLATFORM, url=path
                )
            start, end = _odata_time(created), _odata_time(created + dt.timedelta(milliseconds=1))
            where = f"__system/submissionDate ge {start} and __system/submissionDate lt {end}"
        for page in self.pages(project_id, form_id, filter=where, top=100, expand=True):
            for row in page.value:
                if row.get("__id") == instance_id:
                    return row
        return None

    # -- forms ------------------------------------------------------------------------------------------

    def get_form(self, project_id: int, form_id: str) -> dict[str, Any] | None:
        """The form (its published version; the draft's details if never published), or None if absent."""
        try:
            return self._json_object(
                "GET", urls.path(urls.FORM, project_id=project_id, form_id=form_id), f"read form {form_id!r}"
            )
        except NotFound:
            return None

    def list_versions(self, project_id: int, form_id: str) -> list[dict[str, Any]]:
        """The form's published versions, newest first (each with `version`, `hash`, `publishedAt`)."""
        return self._json_list(
            urls.path(urls.VERSIONS, project_id=project_id, form_id=form_id), f"list the versions of form {form_id!r}"
        )

    def get_draft(self, project_id: int, form_id: str) -> dict[str, Any] | None:
        """The form's draft (`version`, `hash` of its XForm), or None when it has none."""
        try:
            return self._json_object(
                "GET", urls.path(urls.DRAFT, project_id=project_id, form_id=form_id), f"read the draft of {form_id!r}"
            )
        except NotFound:
            return None

    def delete_draft(self, project_id: int, form_id: str) -> None:
        """Discard the draft (Central allows it only on a form with a published version)."""
        self._send(
            "DELETE",
            urls.path(urls.DRAFT, project_id=project_id, form_id=form_id),
            f"delete the draft of form {form_id!r}",
        )

    def create_form(self, project_id: int, xform_xml: bytes) -> dict[str, Any]:
        """Create a form from XForm XML, as a draft (the form id comes from the XML); 409.3 if it exists."""
        return self._json_object(
            "POST",
            urls.path(urls.FORMS, project_id=project_id),
            f"create a form in project {project_id}",
            idempotent=False,
            params={"ignoreWarnings": "true", "publish": "false"},
            content=xform_xml,
            headers={"Content-Type": "application/xml"},
        )

    def create_draft(self, project_id: int, form_id: str, xform_xml: bytes) -> dict[str, Any]:
        """Replace the form's draft with this XML (400.8 if the XML's form id differs).

        Sent as idempotent: doing it twice leaves the same draft.
        """
        return self._json_object(
            "POST",
            urls.path(urls.DRAFT, project_id=project_id, form_id=form_id),
            f"create a draft of form {form_id!r}",
            params={"ignoreWarnings": "true"},
            content=xform_xml,
            headers={"Content-Type": "application/xml"},
        )

    def list_draft_attachments(self, project_id: int, form_id: str) -> list[dict[str, Any]]:
        """The media the draft expects (`name`, `type`, `exists`, `datasetExists`, `hash` on 2024.3+)."""
        return self._json_list(
            urls.path(urls.DRAFT_ATTACHMENTS, project_id=project_id, form_id=form_id),
            f"list the draft attachments of form {form_id!r}",
        )

    def upload_draft_attachment(
        self, project_id: int, form_id: str, name: str, content: bytes, content_type: str
    ) -> None:
        """Fill one expected media slot of the draft (replacing is harmless, so it is retried like a read)."""
        self._send(
            "POST",
            urls.path(urls.DRAFT_ATTACHMENT, project_id=project_id, form_id=form_id, name=name),
            f"upload {name!r} to the draft of form {form_id!r}",
            content=content,
            headers={"Content-Type": content_type},
        )

    def publish_draft(self, project_id: int, form_id: str, version: str) -> None:
        """Publish the draft as `version`; `VersionAlreadyPublished` (409.6) if that version was used before."""
        self._send(
            "POST",
            urls.path(urls.DRAFT_PUBLISH, project_id=project_id, form_id=form_id),
            f"publish form {form_id!r} as version {version!r}",
            idempotent=False,
            params={"version": version},
        )

    # -- app users and roles ----------------------------------------------------------------------------

    def create_app_user(self, project_id: int, display_name: str) -> dict[str, Any]:
        """A new App User (with its `token`, the key phones use); it has no rights until assigned a form role."""
        return self._json_object(
            "POST",
            urls.path(urls.APP_USERS, project_id=project_id),
            f"create app user {display_name!r}",
            idempotent=False,
            json={"displayName": display_name},
        )

    def list_app_users(self, project_id: int) -> list[dict[str, Any]]:
        """The project's App Users; a revoked one has `token: null`."""
        return self._json_list(urls.path(urls.APP_USERS, project_id=project_id), "list app users")

    def role_id(self, system: str) -> int:
        """The numeric id of a system role (`admin`, `manager`, `viewer`, `formfill`, `app-user`)."""
        if self._roles is None:
            roles = self._json_list(urls.ROLES, "list roles")
            self._roles = {role["system"]: role["id"] for role in roles if role.get("system") and "id" in role}
        if system not in self._roles:
            raise NotFound(f"Central has no role {system!r}", platform=PLATFORM, method="GET", url=urls.ROLES)
        return self._roles[system]

    def list_form_assignments(self, project_id: int, form_id: str, role_id: int) -> list[dict[str, Any]]:
        """The actors (objects with `id`, `displayName`) holding a role on a form."""
        return self._json_list(
            urls.path(urls.FORM_ROLE_ASSIGNMENTS, project_id=project_id, form_id=form_id, role_id=role_id),
            f"list role {role_id} assignments of form {form_id!r}",
        )

    def assign_form_role(self, project_id: int, form_id: str, role_id: int, actor_id: int) -> None:
        """Give an actor a role on a form; an assignment that already exists counts as done."""
        path = urls.path(
            urls.FORM_ROLE_ASSIGNMENT, project_id=project_id, form_id=form_id, role_id=role_id, actor_id=actor_id
        )
        with contextlib.suppress(AlreadyExists):
            self._send("POST", path, f"assign role {role_id} on form {form_id!r} to actor {actor_id}")


def _parse_time(value: object) -> dt.datetime | None:
    """Central's `…Z` timestamp as an aware datetime (None if missing or unreadable)."""
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _odata_time(moment: dt.datetime) -> str:
    """A moment as an OData literal, to the millisecond Central keeps in JSON (it stores microseconds)."""
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _server_root(base_url: str) -> str:
    """`https://host[/prefix]`, accepting the URL with or without a trailing `/v1`."""
    root = base_url.rstrip("/")
    if root.endswith("/v1"):
        root = root[: -len("/v1")]
    return root
