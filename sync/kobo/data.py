"""The data endpoint's request parameters and response envelope (`/api/v2/assets/{uid}/data/`).

Kobo answers a query it cannot run with an empty page rather than an error (unknown `$ops`, dotted keys, string
`_id`s under operators, `Z`-suffixed times), so queries are checked here before they leave; and a page that does
not follow the contract is refused whole, so the caller never stores a partial or empty page by mistake.
"""

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from sync.http import MalformedResponse

PLATFORM = "kobo"

QUERY_OPERATORS = frozenset(
    {
        "$or",
        "$and",
        "$in",
        "$nin",
        "$not",
        "$exists",
        "$gt",
        "$gte",
        "$lt",
        "$lte",
        "$regex",
        "$options",
        "$all",
        "$elemMatch",
        "$ne",
        "$expr",
        "$ifNull",
    }
)
"""KPI's `MongoHelper.KEY_WHITELIST`: any other operator is base64-encoded by the server and matches nothing."""

_TIME_WITH_OFFSET = re.compile(r"T\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)$")
_UNCHECKED_OPERATORS = frozenset({"$exists", "$regex", "$options"})


@dataclass(frozen=True)
class KoboPage:
    """One validated page of submissions; `next` is the server's link to the following page, None at the end."""

    count: int
    next: str | None
    results: list[dict[str, Any]]


def submission_time(moment: datetime) -> str:
    """A moment as Kobo stores `_submission_time` (UTC, seconds, no offset), so string comparisons work."""
    if moment.tzinfo is None:
        raise ValueError("submission_time needs a timezone-aware datetime; Kobo compares UTC strings")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def data_params(
    *,
    query: dict[str, Any] | None,
    sort: dict[str, int] | None,
    fields: list[str] | None,
    limit: int,
    start: int,
) -> dict[str, str | int]:
    """Query-string parameters for one data request: explicit `limit` and `sort`, JSON-encoded filters."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive int, got {limit!r}")
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise ValueError(f"start must be an int >= 0, got {start!r}")
    params: dict[str, str | int] = {
        "format": "json",
        "limit": limit,
        "start": start,
        "sort": _compact(sort if sort is not None else {"_id": 1}),
    }
    if query:
        check_query(query)
        params["query"] = _compact(query)
    if fields is not None:
        if not fields or not all(isinstance(name, str) for name in fields):
            raise ValueError("fields must be a non-empty list of field names")
        params["fields"] = _compact(fields)
    return params


def check_query(query: dict[str, Any]) -> None:
    """Refuse what Kobo would silently turn into "matches nothing" instead of an error."""
    if not isinstance(query, dict):
        raise ValueError("query must be a dict (a MongoDB filter)")
    _check_node(query, field=None)


def _check_node(node: Any, field: str | None) -> None:
    if isinstance(node, list):
        for item in node:
            _check_node(item, field)
        return
    if not isinstance(node, dict):
        _check_value(node, field)
        return
    for key, value in node.items():
        if key.startswith("$"):
            if key not in QUERY_OPERATORS:
                raise ValueError(f"Kobo ignores the query operator {key!r} (it matches nothing); use one of its list")
            if key in _UNCHECKED_OPERATORS:
                continue
            _check_node(value, None if key in ("$and", "$or") else field)
        else:
            if "." in key and not key.startswith("_validation_status."):
                raise ValueError(f"Kobo cannot query the dotted key {key!r}; question paths use '/'")
            _check_node(value, key)


def _check_value(value: Any, field: str | None) -> None:
    if field == "_id" and type(value) is not int:
        raise ValueError(f"_id values must be ints (Kobo compares them without casting), got {value!r}")
    if field == "_submission_time" and (not isinstance(value, str) or _TIME_WITH_OFFSET.search(value)):
        raise ValueError(f"_submission_time values are UTC strings without offset (YYYY-MM-DDTHH:MM:SS), not {value!r}")


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def parse_page(response: httpx.Response, *, asset_uid: str, page: str) -> KoboPage:
    """Validate a data page strictly; any deviation raises MalformedResponse naming the asset and the page."""

    def malformed(problem: str) -> MalformedResponse:
        return MalformedResponse.from_response(
            f"submissions of asset {asset_uid}, page {page}: {problem}", response, PLATFORM
        )

    try:
        body = response.json()
    except ValueError:
        raise malformed(f"body is not JSON: {response.text[:120]!r}") from None
    if not isinstance(body, dict):
        raise malformed(f"expected a JSON object, got {type(body).__name__}")
    missing = [key for key in ("count", "next", "results") if key not in body]
    if missing:
        raise malformed(f"missing {', '.join(missing)}")
    count, next_url, results = body["count"], body["next"], body["results"]
    if type(count) is not int or count < 0:
        raise malformed(f"count is not a non-negative int: {count!r}")
    if next_url is not None and not isinstance(next_url, str):
        raise malformed(f"next is neither null nor a URL: {next_url!r}")
    if not isinstance(results, list):
        raise malformed(f"results is not a list: {type(results).__name__}")
    for index, record in enumerate(results):
        if not isinstance(record, dict):
            raise malformed(f"result {index} is not an object")
        if type(record.get("_id")) is not int:
            raise malformed(f"result {index} has no integer _id: {record.get('_id')!r}")
    return KoboPage(count=count, next=next_url, results=results)
