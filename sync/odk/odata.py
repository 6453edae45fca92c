"""OData pages from Central: the page type and the strict check of a page body.

A page that does not follow the contract must stop the run loudly (MalformedResponse), never be half-used: a row
without `__id` cannot be upserted, and a row without `__system` has no cursor. Which keys a row must carry
depends on the request's `$select` and table, so both are read back from the request URL; that way a page
reached through a nextLink is checked exactly like the first one.
"""

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpx

from sync.http import MalformedResponse, json_body
from sync.odk.errors import PLATFORM


@dataclass(frozen=True)
class ODataPage:
    """One page of an OData table: its rows, the link to the next page (None when done), `@odata.count` if asked."""

    value: list[dict[str, Any]]
    next_link: str | None
    count: int | None


def _locate(url: httpx.URL) -> tuple[str, str, str]:
    """`(project, form, table)` from a `/v1/projects/P/forms/F.svc/TABLE` URL, for checks and messages."""
    parts = url.path.split("/")  # ['', 'v1', 'projects', P, 'forms', 'F.svc', TABLE]
    if len(parts) > 6 and parts[5].endswith(".svc"):
        return parts[3], unquote(parts[5][: -len(".svc")]), unquote(parts[6])
    return "?", "?", "?"


def _page_label(url: httpx.URL) -> str:
    """Which page this is, as far as the URL tells (a skiptoken is opaque, so its head names the page)."""
    params = url.params
    if "$skiptoken" in params:
        return f"page after $skiptoken={params['$skiptoken'][:24]}"
    if "$skip" in params:
        return f"page at $skip={params['$skip']}"
    return "first page"


def required_keys(table: str, select: str | None) -> tuple[str, ...]:
    """Keys every row must carry: `__id` always unless `$select` leaves it out; `__system` on the root table."""
    root = table == "Submissions" or table.startswith("Submissions(")  # the table, or one row of it
    if select is None or select.strip() == "*":
        return ("__id", "__system") if root else ("__id",)
    items = {item.strip() for item in select.split(",")}
    keys = ["__id"] if "__id" in items else []
    if root and any(item == "__system" or item.startswith("__system/") for item in items):
        keys.append("__system")
    return tuple(keys)


def parse_page(response: httpx.Response) -> ODataPage:
    """Check a 2xx OData body against the contract and return it as a page; v2024.2's spurious link is dropped."""
    url = response.request.url
    project, form, table = _locate(url)
    where = f"form {form!r} (project {project}), table {table}, {_page_label(url)}"

    def malformed(problem: str) -> MalformedResponse:
        return MalformedResponse.from_response(f"{where}: {problem}", response, PLATFORM)

    try:
        body = json_body(response, PLATFORM)
    except MalformedResponse as error:
        raise malformed(f"the body is not JSON ({response.text[:80]!r})") from error
    if not isinstance(body, dict):
        raise malformed(f"expected a JSON object, got {type(body).__name__}")
    rows = body.get("value")
    if not isinstance(rows, list):
        raise malformed("no 'value' list")
    required = required_keys(table, url.params.get("$select"))
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise malformed(f"row {index} is a {type(row).__name__}, not an object")
        missing = [key for key in required if key not in row]
        if missing:
            raise malformed(f"row {index} has no {', '.join(repr(key) for key in missing)}")
        if "__id" in required and not isinstance(row["__id"], str):
            raise malformed(f"row {index} has a non-string '__id'")
        if "__system" in required and not isinstance(row["__system"], dict):
            raise malformed(f"row {index} has a '__system' that is not an object")
    next_link = body.get("@odata.nextLink")
    if next_link is not None and not isinstance(next_link, str):
        raise malformed("'@odata.nextLink' is not a string")
    count = body.get("@odata.count")
    if url.params.get("$count") == "true":
        if not isinstance(count, int) or isinstance(count, bool):
            raise malformed("'$count=true' was asked but '@odata.count' is missing or not an integer")
    else:
        count = None
    # v2024.2 links to a next page even when nothing remains; an empty page always ends the walk.
    return ODataPage(value=rows, next_link=next_link if rows else None, count=count)
