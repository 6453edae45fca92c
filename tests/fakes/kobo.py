"""A fake KoboToolbox KPI v2 server (FastAPI) that follows shared/contracts/kobo-api.md, with a test harness.

Serve `KoboFake().app` with `tests.fakes.loopback.serve` and point a real client at it. The harness methods
change the server's state the way phones and people do (new, late, edited, deleted submissions; validation
statuses) and switch faults on (5xx/429 every N requests, slow answers, a broken page, a callback between pages).

Sections: helpers · state · XLSForm reading · query matching (KPI's MongoDB subset) · pagination (DRF links) ·
harness (KoboFake) · rendering (the JSON shapes) · request parsing · endpoint logic · routes · serving (AppSlot).
"""

import asyncio
import base64
import contextlib
import copy
import hashlib
import io
import json
import mimetypes
import re
import secrets
import string
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import openpyxl
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from pyxform.errors import PyXFormError
from pyxform.xls2xform import convert

# ---------------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------------

NOT_FOUND = {"detail": "Not found."}
NO_CREDENTIALS = {"detail": "Authentication credentials were not provided."}
INVALID_TOKEN = {"detail": "Invalid token."}
V1_GONE = {
    "detail": "The V1 API has been removed. Please read the migration article at "
    "https://support.kobotoolbox.org/migrating_api.html"
}
VALIDATION_LABELS = {
    "validation_status_approved": "Approved",
    "validation_status_not_approved": "Not Approved",
    "validation_status_on_hold": "On Hold",
}
MEDIA_TYPES_ALLOWED = (
    "image",
    "audio",
    "video",
    "text/csv",
    "application/xml",
    "application/zip",
    "application/geo+json",
)
MIME_ERROR = (
    "Only `image`, `audio`, `video`, `text/csv`, `application/xml`, `application/zip`, `application/geo+json` "
    "MIME types are allowed"
)
_UID_ALPHABET = string.ascii_letters + string.digits


def new_uid(prefix: str, length: int = 22) -> str:
    """KPI uids: a type letter (`a` asset, `v` version, `af` file, `i` import) and random letters/digits."""
    return prefix + "".join(secrets.choice(_UID_ALPHABET) for _ in range(length - len(prefix)))


def iso(moment: datetime) -> str:
    """DRF's datetime format: microseconds and `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def mongo_time(moment: datetime) -> str:
    """`_submission_time` as KoboCAT stores it: UTC, seconds, no offset."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def md5_hash(content: bytes) -> str:
    return "md5:" + hashlib.md5(content, usedforsecurity=False).hexdigest()


class ApiError(Exception):
    """An HTTP answer other than success: a JSON body (DRF style) or Django's plain-text 500."""

    def __init__(
        self, status: int, body: Any = None, *, text: str | None = None, headers: dict[str, str] | None = None
    ):
        super().__init__(status)
        self.status, self.body, self.text, self.headers = status, body, text, headers or {}

    def response(self) -> Response:
        if self.text is not None:
            return PlainTextResponse(self.text, self.status, headers=self.headers)
        return JSONResponse(self.body, self.status, headers=self.headers)


SERVER_ERROR = ApiError(500, text="Server Error (500)")


# ---------------------------------------------------------------------------------------------------------------
# state
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Version:
    uid: str
    content: dict[str, Any]
    date_modified: datetime
    xlsx: bytes | None = None
    deployed: bool = False
    date_deployed: datetime | None = None
    number: int | None = None

    @property
    def content_hash(self) -> str:
        return hashlib.sha1(json.dumps(self.content, sort_keys=True).encode(), usedforsecurity=False).hexdigest()


@dataclass
class MediaFile:
    uid: str
    filename: str
    content: bytes
    mimetype: str
    description: str
    owner: str
    date_created: datetime
    redirect_url: str | None = None
    date_deleted: datetime | None = None

    @property
    def hash(self) -> str:
        return md5_hash(self.redirect_url.encode() if self.redirect_url else self.content)


@dataclass
class Deployment:
    version_id: str
    active: bool
    form_uuid: str
    date_deployed: datetime
    manifest: dict[str, str]
    """Media the phones get: filename -> hash, as synced at the last (re)deploy."""


@dataclass
class Asset:
    uid: str
    name: str
    owner: str
    asset_type: str
    date_created: datetime
    date_modified: datetime
    versions: list[Version] = field(default_factory=list)
    deployment: Deployment | None = None
    files: list[MediaFile] = field(default_factory=list)
    shared_with: set[str] = field(default_factory=set)
    records: dict[int, dict[str, Any]] = field(default_factory=dict)
    hidden: set[int] = field(default_factory=set)

    @property
    def version(self) -> Version:
        return self.versions[-1]

    @property
    def content(self) -> dict[str, Any]:
        return self.version.content

    def save_content(self, content: dict[str, Any], now: datetime, xlsx: bytes | None = None) -> Version:
        """Every content save makes a new version; only a (re)deploy moves `deployed_version_id`."""
        version = Version(uid=new_uid("v"), content=content, date_modified=now, xlsx=xlsx)
        self.versions.append(version)
        self.date_modified = now
        return version

    def live_files(self) -> list[MediaFile]:
        return [f for f in self.files if f.date_deleted is None]

    def visible_records(self) -> list[dict[str, Any]]:
        """What the data endpoint (MongoDB) shows: not the records still being saved."""
        return [record for _id, record in self.records.items() if _id not in self.hidden]

    def readable_by(self, username: str) -> bool:
        return username == self.owner or username in self.shared_with


@dataclass
class ImportTask:
    uid: str
    owner: str
    fields: dict[str, str]
    xlsx: bytes | None
    date_created: datetime
    status: str = "created"
    polls: int = 0
    messages: dict[str, Any] = field(default_factory=dict)


@dataclass
class SeenRequest:
    method: str
    path: str
    params: dict[str, str]


@dataclass
class Faults:
    """Fault switches; see the KoboFake methods that set them."""

    every: int = 0
    every_status: int = 503
    every_retry_after: str | None = None
    next_count: int = 0
    next_status: int = 503
    next_retry_after: str | None = None
    delay: float = 0.0
    malformed_at: int = 0
    malformed_kind: str = "json"
    malformed_key: str = "results"
    between_pages: Callable[[int], None] | None = None


# ---------------------------------------------------------------------------------------------------------------
# XLSForm reading (what an import stores as the asset's content)
# ---------------------------------------------------------------------------------------------------------------


class ImportProblem(Exception):
    """An import that ends in `status: error` with `messages.error_type` / `messages.error`."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type, self.message = error_type, message


_NODE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_GROUP_STARTS, _GROUP_ENDS = ("begin_group", "begin_repeat"), ("end_group", "end_repeat")


def read_xlsform(xlsx: bytes) -> dict[str, Any]:
    """The asset content KPI keeps for an XLSForm: survey/choices rows, translated labels as lists."""
    try:
        book = openpyxl.load_workbook(io.BytesIO(xlsx), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many types for a file that is not a workbook
        raise ImportProblem(type(error).__name__, str(error)) from error
    sheets = {name.strip().lower(): _sheet_rows(book[name]) for name in book.sheetnames}
    book.close()
    if "survey" not in sheets and "library" not in sheets:
        raise ImportProblem("SyntaxError", "xls upload must have one of these sheets: survey, library")
    survey = kpi_rows([_content_row(row) for row in sheets.get("survey", sheets.get("library", []))])
    _check_node_names(survey)
    choices = kpi_rows([_content_row(row) for row in sheets.get("choices", [])])
    settings = dict(sheets["settings"][0]) if sheets.get("settings") else {}
    settings.pop("version", None)  # KPI drops it and sets its own at deploy (`_remove_version`)
    return {"survey": survey, "choices": choices, "settings": settings}


def _sheet_rows(sheet: Any) -> list[dict[str, str]]:
    rows = sheet.iter_rows(values_only=True)
    header = [str(cell).strip() if cell is not None else "" for cell in next(rows, ())]
    out = []
    for values in rows:
        row = {
            name: str(value).strip()
            for name, value in zip(header, values, strict=False)
            if name and value is not None and str(value).strip()
        }
        if row:
            out.append(row)
    return out


def _content_row(row: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for column, value in row.items():
        base = column.split("::", 1)[0]
        if base in ("label", "hint"):
            out.setdefault(base, []).append(value)
        elif column == "type" and value.split()[0] in ("select_one", "select_multiple") and len(value.split()) > 1:
            out["type"], out["select_from_list_name"] = value.split()[:2]
        elif column == "required":
            out["required"] = value.lower() in ("yes", "true", "1", "true()")
        else:
            out[column] = value
    return out


def kpi_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as KPI saves them: every row gets a `$kuid`, every named row an `$autoname`."""
    out = []
    for row in copy.deepcopy(rows):
        if "name" in row:
            row.setdefault("$autoname", row["name"])
        row.setdefault("$kuid", new_uid("", 8))
        out.append(row)
    return out


def _check_node_names(survey: list[dict[str, Any]]) -> None:
    scopes: list[set[str]] = [set()]
    for row in survey:
        kind, name = row.get("type", ""), row.get("name")
        if kind in _GROUP_ENDS:
            if len(scopes) > 1:
                scopes.pop()
            continue
        if name is not None:
            if not _NODE_NAME.match(name):
                raise ImportProblem("ValueError", f"Invalid node name: {name}")
            if name in scopes[-1]:
                raise ImportProblem("DuplicateNameException", f"Duplicate node name: {name}")
            scopes[-1].add(name)
        if kind in _GROUP_STARTS:
            scopes.append(set())


def question_paths(content: dict[str, Any]) -> list[tuple[str, str]]:
    """(type, XPath relative to the root) of every question, group paths joined with `/`."""
    stack: list[str] = []
    out = []
    for row in content.get("survey", []):
        kind = row.get("type", "")
        if kind in _GROUP_STARTS:
            stack.append(row.get("name", ""))
        elif kind in _GROUP_ENDS:
            if stack:
                stack.pop()
        elif "name" in row:
            out.append((kind, "/".join([*stack, row["name"]])))
    return out


def content_summary(content: dict[str, Any]) -> dict[str, Any]:
    rows = content.get("survey", [])
    questions = [row for row in rows if row.get("type") not in _GROUP_ENDS]
    columns = sorted({key for row in rows for key in row if not key.startswith("$")})
    return {
        "geo": any(row.get("type") == "geopoint" for row in rows),
        "labels": [row["label"][0] for row in questions if row.get("label")][:5],
        "columns": columns,
        "languages": [None],
        "row_count": len(rows),
        "default_translation": None,
    }


DEFAULT_SURVEY: list[dict[str, Any]] = [
    {"type": "start", "name": "start"},
    {"type": "end", "name": "end"},
    {"type": "text", "name": "village", "label": ["Village"]},
    {"type": "begin_group", "name": "household", "label": ["Household"]},
    {"type": "integer", "name": "size", "label": ["Household size"]},
    {"type": "begin_repeat", "name": "members", "label": ["Members"]},
    {"type": "text", "name": "name", "label": ["Name"]},
    {"type": "integer", "name": "age", "label": ["Age"]},
    {"type": "end_repeat"},
    {"type": "end_group"},
    {"type": "geopoint", "name": "location", "label": ["Location"]},
    {"type": "image", "name": "photo", "label": ["Photo"]},
]


# ---------------------------------------------------------------------------------------------------------------
# query matching: KPI's `MongoHelper.to_safe_dict` followed by the MongoDB semantics a sync client relies on
# ---------------------------------------------------------------------------------------------------------------

KEY_WHITELIST = frozenset(
    {"$or", "$and", "$in", "$nin", "$not", "$exists", "$gt", "$gte", "$lt", "$lte", "$regex", "$options"}
    | {"$all", "$elemMatch", "$ne", "$expr", "$ifNull"}
)
_ENCODED = "\x00base64:"
"""Prefix marking a key KPI base64-encodes: a field name no document has, an operator MongoDB does not know."""


class UnsupportedQuery(Exception):
    """MongoDB would raise OperationFailure; KPI answers 400 ["Unsupported query"]."""


def safe_query(query: dict[str, Any]) -> dict[str, Any]:
    """KPI's rewrite: scalar `_id` cast to int; unknown `$ops` and dotted keys encoded (so they match nothing)."""
    out: dict[str, Any] = {}
    for key, value in query.items():
        if isinstance(value, dict):
            value = safe_query(value)
        elif isinstance(value, list):
            value = [safe_query(item) if isinstance(item, dict) else item for item in value]
        if key == "_id" and isinstance(value, str | int | float):
            with contextlib.suppress(ValueError):
                value = int(value)
        if (key.startswith("$") and key not in KEY_WHITELIST) or (
            "." in key and not key.startswith("_validation_status.")
        ):
            key = _ENCODED + key
        out[key] = value
    return out


def matches(record: dict[str, Any], query: dict[str, Any]) -> bool:
    return all(_clause(record, key, spec) for key, spec in query.items())


def _clause(record: dict[str, Any], key: str, spec: Any) -> bool:
    if key in ("$and", "$or"):
        if not isinstance(spec, list) or not spec or not all(isinstance(item, dict) for item in spec):
            raise UnsupportedQuery(f"{key} needs a non-empty array of objects")
        combine = all if key == "$and" else any
        return combine(matches(record, item) for item in spec)
    if key.startswith("$"):
        raise UnsupportedQuery(f"the fake cannot evaluate the top-level operator {key}")
    present, value = _lookup(record, key)
    return _condition(present, value, spec)


def _lookup(record: dict[str, Any], key: str) -> tuple[bool, Any]:
    if key in record:
        return True, record[key]
    if key.startswith("_validation_status."):
        node: Any = record.get("_validation_status", {})
        for part in key.split(".")[1:]:
            if not isinstance(node, dict) or part not in node:
                return False, None
            node = node[part]
        return True, node
    return False, None


def _condition(present: bool, value: Any, spec: Any) -> bool:
    if isinstance(spec, dict) and spec and next(iter(spec)).startswith("$"):
        return all(_operator(present, value, op, arg, spec) for op, arg in spec.items())
    if spec is None:
        return not present or value is None
    return present and _equals_any(value, spec)


def _operator(present: bool, value: Any, op: str, arg: Any, spec: dict[str, Any]) -> bool:
    if op in ("$gt", "$gte", "$lt", "$lte"):
        wanted = {"$gt": (1,), "$gte": (0, 1), "$lt": (-1,), "$lte": (-1, 0)}[op]
        return present and any(_compare(item, arg) in wanted for item in _candidates(value))
    if op == "$ne":
        return not (present and _equals_any(value, arg))
    if op in ("$in", "$nin"):
        if not isinstance(arg, list):
            raise UnsupportedQuery(f"{op} needs an array")
        found = (None in arg) if not present else any(_equals_any(value, item) for item in arg)
        return found if op == "$in" else not found
    if op == "$exists":
        return bool(arg) == present
    if op == "$not":
        if not isinstance(arg, dict):
            raise UnsupportedQuery("$not needs a regex or a document")
        return not _condition(present, value, arg)
    if op == "$regex":
        flags = sum(getattr(re, f.upper()) for f in str(spec.get("$options", "")) if f in "imsx")
        pattern = re.compile(str(arg), flags)
        return present and any(isinstance(item, str) and pattern.search(item) for item in _candidates(value))
    if op == "$options":
        return True
    if op == "$all":
        if not isinstance(arg, list):
            raise UnsupportedQuery("$all needs an array")
        return present and all(_equals_any(value, item) for item in arg)
    if op == "$elemMatch":
        if not isinstance(arg, dict):
            raise UnsupportedQuery("$elemMatch needs an Object")
        return present and isinstance(value, list) and any(_element_matches(item, arg) for item in value)
    raise UnsupportedQuery(f"unknown operator: {op.removeprefix(_ENCODED)}")


def _element_matches(item: Any, spec: dict[str, Any]) -> bool:
    if spec and next(iter(spec)).startswith("$"):
        return _condition(True, item, spec)
    return isinstance(item, dict) and matches(item, spec)


def _candidates(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _same(a: Any, b: Any) -> bool:
    """BSON equality: a bool is not a number, and a number never equals a string."""
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return a == b


def _equals_any(value: Any, spec: Any) -> bool:
    return _same(value, spec) or (isinstance(value, list) and any(_same(item, spec) for item in value))


def _compare(a: Any, b: Any) -> int | None:
    """MongoDB compares within a type bracket only: numbers with numbers, strings with strings (bytewise)."""
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return (a > b) - (a < b)
    if isinstance(a, str) and isinstance(b, str):
        return (a > b) - (a < b)
    return None


def _sort_key(present: bool, value: Any) -> tuple[int, Any]:
    """BSON order: missing/null < numbers < strings < objects < arrays < booleans."""
    if not present or value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (5, value)
    if isinstance(value, int | float):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3 if isinstance(value, dict) else 4, json.dumps(value, sort_keys=True))


def sort_records(records: list[dict[str, Any]], sort: dict[str, int]) -> list[dict[str, Any]]:
    ordered = list(records)
    for key, direction in reversed(list(sort.items())):
        if direction not in (1, -1):
            raise UnsupportedQuery("bad sort specification")
        ordered.sort(key=lambda record, key=key: _sort_key(*_lookup(record, key)), reverse=direction == -1)
    return ordered


FORCED_FIELDS = ("_id", "_uuid", "meta/rootUuid")


def project(record: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """KPI's projection: the asked fields plus `_id`, `_uuid`, `meta/rootUuid`; `_validation_status` injected
    as `{}` when not asked for, whatever the real status is."""
    keep = set(fields) | set(FORCED_FIELDS)
    out = {key: value for key, value in record.items() if key in keep}
    if "_validation_status" not in fields:
        out["_validation_status"] = {}
    return out


# ---------------------------------------------------------------------------------------------------------------
# pagination: DRF LimitOffsetPagination with `start` as the offset parameter (rest_framework/utils/urls.py)
# ---------------------------------------------------------------------------------------------------------------


def replace_query_param(url: str, key: str, value: Any) -> str:
    scheme, netloc, path, query, fragment = urlsplit(url)
    params = parse_qs(query, keep_blank_values=True)
    params[key] = [str(value)]
    return urlunsplit((scheme, netloc, path, urlencode(sorted(params.items()), doseq=True), fragment))


def remove_query_param(url: str, key: str) -> str:
    scheme, netloc, path, query, fragment = urlsplit(url)
    params = parse_qs(query, keep_blank_values=True)
    params.pop(key, None)
    return urlunsplit((scheme, netloc, path, urlencode(sorted(params.items()), doseq=True), fragment))


def page_links(url: str, *, start: int, limit: int, count: int) -> tuple[str | None, str | None]:
    """(`next`, `previous`) exactly as DRF builds them: all params kept, keys sorted, `start` dropped at 0."""
    next_link = None
    if start + limit < count:
        next_link = replace_query_param(replace_query_param(url, "limit", limit), "start", start + limit)
    previous = None
    if start > 0:
        previous = replace_query_param(url, "limit", limit)
        previous = (
            remove_query_param(previous, "start")
            if start - limit <= 0
            else replace_query_param(previous, "start", start - limit)
        )
    return next_link, previous


def _offset(text: str | None) -> int:
    """DRF's `get_offset`: a bad or negative offset is 0."""
    try:
        return max(int(text), 0) if text else 0
    except ValueError:
        return 0


def _positive_int(text: str | None, default: int, cap: int) -> int:
    """DRF's lenient `_positive_int` for list endpoints other than data: bad values fall back to the default."""
    try:
        value = int(text) if text is not None else default
    except ValueError:
        return default
    return min(value, cap) if value > 0 else default


# ---------------------------------------------------------------------------------------------------------------
# harness
# ---------------------------------------------------------------------------------------------------------------


class KoboFake:
    """A KPI server's state and fault switches; `.app` serves it. All methods are thread-safe."""

    def __init__(
        self,
        *,
        username: str = "bob",
        default_limit: int = 100,
        max_limit: int = 1000,
        import_polls: int = 1,
        link_base: str | None = None,
        legacy_system_keys: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`link_base` makes links (next, url, data…) absolute to another origin, as a misconfigured proxy does;
        `legacy_system_keys` adds `_tags`/`_notes` like servers before 2026-05-28; `import_polls` is how many
        polls an import answers `processing` before it runs."""
        self.username = username
        self.default_limit, self.max_limit = default_limit, max_limit
        self.import_polls = import_polls
        self.link_base = link_base.rstrip("/") if link_base else None
        self.legacy_system_keys = legacy_system_keys
        self.clock = clock
        self.lock = threading.RLock()
        self.tokens: dict[str, str] = {}
        self.assets: dict[str, Asset] = {}
        self.imports: dict[str, ImportTask] = {}
        self.requests: list[SeenRequest] = []
        self.faults = Faults()
        self.request_count = 0
        self.data_requests = 0
        self._next_id = 101
        self.token = self.add_user(username)
        self.app = build_app(self)

    # -- users and assets -----------------------------------------------------------------------------------

    def add_user(self, username: str) -> str:
        """A user and their API token (40 hex characters, like DRF's)."""
        token = secrets.token_hex(20)
        with self.lock:
            self.tokens[token] = username
        return token

    def revoke_token(self, token: str) -> None:
        with self.lock:
            self.tokens.pop(token, None)

    def add_asset(
        self,
        name: str = "Household survey",
        *,
        owner: str | None = None,
        survey: list[dict[str, Any]] | None = None,
        choices: list[dict[str, Any]] | None = None,
        deployed: bool = True,
    ) -> str:
        """A survey asset with content (KPI's row shape), deployed unless told otherwise; returns its uid."""
        now = self.clock()
        content = {"survey": kpi_rows(survey or DEFAULT_SURVEY), "choices": kpi_rows(choices or []), "settings": {}}
        asset = Asset(new_uid("a"), name, owner or self.username, "survey", now, now)
        asset.save_content(content, now)
        with self.lock:
            self.assets[asset.uid] = asset
            if deployed:
                self._deploy(asset, active=True)
        return asset.uid

    def delete_asset(self, uid: str) -> None:
        """The owner deletes the project: every request about it then answers 404 `{"detail": "Not found."}`."""
        with self.lock:
            del self.assets[uid]

    def share(self, asset_uid: str, username: str) -> None:
        with self.lock:
            self.assets[asset_uid].shared_with.add(username)

    def asset(self, uid: str) -> Asset:
        """The raw state of an asset (read it; change it through the harness methods)."""
        return self.assets[uid]

    def live_media(self, asset_uid: str) -> dict[str, str]:
        """filename -> `md5:` hash of the asset's non-deleted media."""
        with self.lock:
            return {f.filename: f.hash for f in self.assets[asset_uid].live_files()}

    def manifest(self, asset_uid: str) -> dict[str, str]:
        """The media phones get (filename -> hash): what was live at the last (re)deploy."""
        with self.lock:
            deployment = self.assets[asset_uid].deployment
            return dict(deployment.manifest) if deployment else {}

    # -- submissions ------------------------------------------------------------------------------------------

    def add_submission(
        self,
        asset_uid: str,
        answers: dict[str, Any],
        *,
        submission_time: datetime | str | None = None,
        visible: bool = True,
        submitted_by: str | None = None,
        attachments: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Receive a submission. `answers` use flat XPaths (`group/question`, repeats as lists of dicts keyed by
        full XPaths); values become strings. `visible=False` keeps it out of the data endpoint until `reveal`
        (its `_id` and `_submission_time` are already fixed, like a slow attachment upload).
        `attachments` maps a question XPath to a file basename."""
        with self.lock:
            asset = self.assets[asset_uid]
            if asset.deployment is None:
                raise ValueError(f"asset {asset_uid} is not deployed; it cannot receive submissions")
            moment = submission_time if submission_time is not None else self.clock()
            _id, self._next_id = self._next_id, self._next_id + 1
            instance = str(uuid.uuid4())
            record: dict[str, Any] = {"_id": _id, "formhub/uuid": asset.deployment.form_uuid}
            record.update(_as_strings(answers))
            record.update(
                {
                    "__version__": asset.deployment.version_id,
                    "meta/instanceID": f"uuid:{instance}",
                    "meta/rootUuid": f"uuid:{instance}",
                    "_xform_id_string": asset.uid,
                    "_uuid": instance,
                    "_attachments": [
                        _attachment(asset, instance, xpath, basename) for xpath, basename in (attachments or {}).items()
                    ],
                    "_status": "submitted_via_web",
                    "_geolocation": _geolocation(asset.content, record),
                    "_submission_time": moment if isinstance(moment, str) else mongo_time(moment),
                    "_validation_status": {},
                    "_submitted_by": submitted_by,
                }
            )
            asset.records[_id] = record
            if not visible:
                asset.hidden.add(_id)
            return self._render(asset, record)

    def reveal(self, asset_uid: str, _id: int) -> None:
        """A hidden submission becomes visible (after records with higher `_id`s, if any came meanwhile)."""
        with self.lock:
            self.assets[asset_uid].hidden.discard(_id)

    def edit_submission(self, asset_uid: str, _id: int, changes: dict[str, Any]) -> dict[str, Any]:
        """An Enketo/Collect edit: same `_id`, `_submission_time`, `meta/rootUuid`; new `_uuid` and
        `meta/instanceID`; `meta/deprecatedID` = the previous instanceID. A None value removes the answer."""
        with self.lock:
            asset = self.assets[asset_uid]
            record = asset.records[_id]
            instance = str(uuid.uuid4())
            for key, value in changes.items():
                if value is None:
                    record.pop(key, None)
                else:
                    record[key] = _as_strings(value)
            record["meta/deprecatedID"] = record["meta/instanceID"]
            record["meta/instanceID"] = f"uuid:{instance}"
            record["_uuid"] = instance
            if asset.deployment is not None:
                record["__version__"] = asset.deployment.version_id
            record["_geolocation"] = _geolocation(asset.content, record)
            return self._render(asset, record)

    def delete_submission(self, asset_uid: str, _id: int) -> None:
        """A hard delete: no tombstone anywhere in the data API."""
        with self.lock:
            asset = self.assets[asset_uid]
            del asset.records[_id]
            asset.hidden.discard(_id)

    def set_validation_status(
        self, asset_uid: str, _id: int, status_uid: str | None, *, by_whom: str | None = None
    ) -> dict[str, Any]:
        """Set (or clear, with None) the validation status; `timestamp` is the server's epoch seconds."""
        with self.lock:
            record = self.assets[asset_uid].records[_id]
            record["_validation_status"] = _validation_status(status_uid, by_whom or self.username)
            return copy.deepcopy(record["_validation_status"])

    def mark_attachment_deleted(self, asset_uid: str, _id: int, attachment_uid: str) -> None:
        with self.lock:
            for attachment in self.assets[asset_uid].records[_id]["_attachments"]:
                if attachment["uid"] == attachment_uid:
                    attachment["is_deleted"] = True

    def submissions(self, asset_uid: str) -> list[dict[str, Any]]:
        """The visible submissions as the data endpoint returns them, in `_id` order."""
        with self.lock:
            asset = self.assets[asset_uid]
            return [self._render(asset, record) for record in asset.visible_records()]

    # -- faults -----------------------------------------------------------------------------------------------

    def fail_every(self, n: int, status: int = 503, *, retry_after: str | None = None) -> None:
        """Every Nth request (counting all requests) answers `status` instead (0 turns it off)."""
        with self.lock:
            self.faults.every, self.faults.every_status, self.faults.every_retry_after = n, status, retry_after

    def fail_next(self, k: int, status: int = 503, *, retry_after: str | None = None) -> None:
        """The next K requests answer `status` (with `Retry-After` when given)."""
        with self.lock:
            self.faults.next_count, self.faults.next_status, self.faults.next_retry_after = k, status, retry_after

    def slow(self, seconds: float) -> None:
        """Every answer waits this long first."""
        with self.lock:
            self.faults.delay = seconds

    def malform_page(self, n: int, kind: str = "json", *, key: str = "results") -> None:
        """The Nth data-list request (1-based, counted from now) answers 200 with a broken page:
        `json` = truncated JSON, `missing` = the envelope without `key`, `bad_id` = a result without `_id`."""
        if kind not in ("json", "missing", "bad_id"):
            raise ValueError(f"unknown malformation {kind!r}")
        with self.lock:
            self.faults.malformed_at = self.data_requests + n
            self.faults.malformed_kind, self.faults.malformed_key = kind, key

    def between_pages(self, callback: Callable[[int], None] | None) -> None:
        """Run `callback(n)` after the Nth data page is built and before it is sent, so the next page sees
        whatever it changed (edits, deletions, new records)."""
        with self.lock:
            self.faults.between_pages = callback

    def clear_faults(self) -> None:
        with self.lock:
            self.faults = Faults()

    # -- internals used by the routes --------------------------------------------------------------------------

    def _admit(self, request: Request) -> tuple[float, Response | None]:
        """Record the request and decide on an injected failure: (delay, failure or None)."""
        with self.lock:
            self.requests.append(SeenRequest(request.method, request.url.path, dict(request.query_params)))
            self.request_count += 1
            faults = self.faults
            status, retry_after = None, None
            if faults.next_count > 0:
                faults.next_count -= 1
                status, retry_after = faults.next_status, faults.next_retry_after
            elif faults.every and self.request_count % faults.every == 0:
                status, retry_after = faults.every_status, faults.every_retry_after
            if status is None:
                return faults.delay, None
            headers = {"Retry-After": retry_after} if retry_after else {}
            if status == 429:
                wait = retry_after or "1"
                body = {"detail": f"Request was throttled. Expected available in {wait} seconds."}
                return faults.delay, JSONResponse(body, 429, headers=headers)
            page = f"<html><body><h1>{status}</h1>The server is temporarily unavailable.</body></html>"
            return faults.delay, Response(page, status, headers=headers, media_type="text/html")

    def _user(self, request: Request) -> str:
        """DRF TokenAuthentication: the user of the token, or 401 with DRF's exact words."""
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "token":
            raise ApiError(401, NO_CREDENTIALS, headers={"WWW-Authenticate": "Session"})
        key = key.strip()
        if not key:
            raise ApiError(401, {"detail": "Invalid token header. No credentials provided."})
        if " " in key:
            raise ApiError(401, {"detail": "Invalid token header. Token string should not contain spaces."})
        username = self.tokens.get(key)
        if username is None:
            raise ApiError(401, INVALID_TOKEN, headers={"WWW-Authenticate": "Session"})
        return username

    def _visible_asset(self, uid: str, username: str) -> Asset:
        asset = self.assets.get(uid)
        if asset is None or not asset.readable_by(username):
            raise ApiError(404, NOT_FOUND)
        return asset

    def _deploy(self, asset: Asset, *, active: bool) -> None:
        """Deploy the current version and sync the media the phones get (KPI queues this on Celery)."""
        now = self.clock()
        version = asset.version
        if not version.deployed:
            version.deployed = True
            version.number = sum(1 for v in asset.versions if v.deployed)
        version.date_deployed = now
        manifest = {f.filename: f.hash for f in asset.live_files()}
        if asset.deployment is None:
            asset.deployment = Deployment(version.uid, active, uuid.uuid4().hex, now, manifest)
        else:
            asset.deployment.version_id, asset.deployment.active = version.uid, active
            asset.deployment.date_deployed, asset.deployment.manifest = now, manifest

    def _render(self, asset: Asset, record: dict[str, Any], base: str | None = None) -> dict[str, Any]:
        return render_record(asset, record, base or self.link_base or "http://kobo.fake", self.legacy_system_keys)


def _as_strings(value: Any) -> Any:
    """Answers are XML text: every scalar becomes a string; empty answers are absent."""
    if isinstance(value, dict):
        return {key: _as_strings(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_as_strings(item) for item in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _geolocation(content: dict[str, Any], record: dict[str, Any]) -> list[float | None]:
    """`[lat, lng]` of the first geopoint question answered, else `[null, null]`."""
    for kind, xpath in question_paths(content):
        if kind == "geopoint" and isinstance(record.get(xpath), str):
            parts = record[xpath].split()
            try:
                return [float(parts[0]), float(parts[1])]
            except (IndexError, ValueError):
                break
    return [None, None]


def _attachment(asset: Asset, instance: str, xpath: str, basename: str) -> dict[str, Any]:
    form_uuid = asset.deployment.form_uuid if asset.deployment else ""
    return {
        "mimetype": mimetypes.guess_type(basename)[0] or "application/octet-stream",
        "filename": f"{asset.owner}/attachments/{form_uuid}/{instance}/{basename}",
        "media_file_basename": basename,
        "uid": new_uid("att", 24),
        "is_deleted": False,
        "question_xpath": xpath,
    }


def _validation_status(status_uid: str | None, by_whom: str) -> dict[str, Any]:
    if status_uid is None:
        return {}
    if status_uid not in VALIDATION_LABELS:
        raise ApiError(400, {"detail": f"Invalid validation status: `{status_uid}`"})
    label = VALIDATION_LABELS[status_uid]
    return {"timestamp": int(time.time()), "uid": status_uid, "by_whom": by_whom, "label": label}


# ---------------------------------------------------------------------------------------------------------------
# rendering: the JSON shapes of §3 and §4
# ---------------------------------------------------------------------------------------------------------------


def render_record(asset: Asset, record: dict[str, Any], base: str, legacy: bool = False) -> dict[str, Any]:
    """A stored submission as the API shows it: attachment URLs on this server, `_validation_status` present."""
    out = copy.deepcopy(record)
    data_url = f"{base}/api/v2/assets/{asset.uid}/data/{record['_id']}/attachments"
    attachments = []
    for attachment in out.get("_attachments", []):
        urls = {"download_url": f"{data_url}/{attachment['uid']}/"}
        if attachment["mimetype"].startswith("image/"):
            for size in ("large", "medium", "small"):
                urls[f"download_{size}_url"] = f"{data_url}/{attachment['uid']}/{size}/"
        attachments.append({**urls, **attachment})
    out["_attachments"] = attachments
    out.setdefault("_validation_status", {})
    if legacy:
        out["_tags"], out["_notes"] = [], []
    return out


def render_version(asset: Asset, version: Version, base: str) -> dict[str, Any]:
    number = str(version.number) if version.deployed else f"{sum(1 for v in asset.versions if v.deployed)}.x"
    return {
        "uid": version.uid,
        "url": f"{base}/api/v2/assets/{asset.uid}/versions/{version.uid}/",
        "content_hash": version.content_hash,
        "date_deployed": iso(version.date_deployed) if version.date_deployed else None,
        "date_modified": iso(version.date_modified),
        "version_number": number,
    }


def render_file(asset: Asset, media: MediaFile, base: str) -> dict[str, Any]:
    url = f"{base}/api/v2/assets/{asset.uid}/files/{media.uid}/"
    metadata: dict[str, Any] = {"filename": media.filename, "hash": media.hash, "mimetype": media.mimetype}
    if media.redirect_url:
        metadata["redirect_url"] = media.redirect_url
    return {
        "uid": media.uid,
        "url": url,
        "asset": f"{base}/api/v2/assets/{asset.uid}/",
        "user": f"{base}/api/v2/users/{media.owner}/",
        "user__username": media.owner,
        "file_type": "form_media",
        "description": media.description,
        "date_created": iso(media.date_created),
        "content": f"{url}content/",
        "metadata": metadata,
    }


def render_asset(asset: Asset, base: str, *, with_content: bool = True) -> dict[str, Any]:
    url = f"{base}/api/v2/assets/{asset.uid}/"
    deployment = asset.deployment
    deployed = [render_version(asset, v, base) for v in reversed(asset.versions) if v.deployed]
    times = [record["_submission_time"] for record in asset.records.values()]
    status = "draft" if deployment is None else ("deployed" if deployment.active else "archived")
    out: dict[str, Any] = {
        "url": url,
        "owner": f"{base}/api/v2/users/{asset.owner}/",
        "owner__username": asset.owner,
        "parent": None,
        "settings": {"sector": None, "country": None, "description": "", "share-metadata": False},
        "asset_type": asset.asset_type,
        "files": [render_file(asset, f, base) for f in asset.files],  # includes soft-deleted files, as KPI does
        "summary": content_summary(asset.content),
        "date_created": iso(asset.date_created),
        "date_modified": iso(asset.date_modified),
        "date_deployed": iso(deployment.date_deployed) if deployment else None,
        "version_id": asset.version.uid,
        "version__content_hash": asset.version.content_hash,
        "version_count": len(asset.versions),
        "has_deployment": deployment is not None,
        "deployed_version_id": deployment.version_id if deployment else None,
        "deployed_versions": {"count": len(deployed), "next": None, "previous": None, "results": deployed},
        "deployment__links": (
            {
                "url": f"https://ee.kobo.fake/{asset.uid}",
                "offline_url": f"https://ee.kobo.fake/x/{asset.uid}",
                "preview_url": f"https://ee.kobo.fake/preview/{asset.uid}",
                "iframe_url": f"https://ee.kobo.fake/i/{asset.uid}",
            }
            if deployment
            else {}
        ),
        "deployment__active": bool(deployment and deployment.active),
        "deployment__data_download_links": {},
        "deployment__submission_count": len(asset.records) if deployment else 0,
        "deployment__last_submission_time": f"{max(times)}.000000Z" if times else None,
        "deployment__encrypted": False,
        "deployment__uuid": deployment.form_uuid if deployment else None,
        "deployment_status": status,
        "content": copy.deepcopy(asset.content),
        "uid": asset.uid,
        "kind": "asset",
        "name": asset.name,
        "data": f"{url}data/",
        "hooks_link": f"{url}hooks/",
        "xform_link": f"{url}xform/",
        "xls_link": f"{url}xls/",
    }
    if not with_content:
        del out["content"]
    return out


# ---------------------------------------------------------------------------------------------------------------
# request parsing
# ---------------------------------------------------------------------------------------------------------------


def parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, str], dict[str, tuple[str, bytes, str]]]:
    """multipart/form-data → (fields, files as (filename, bytes, content type)); stdlib only, binary-safe."""
    found = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.startswith("multipart/form-data") or not found:
        raise ApiError(415, {"detail": f'Unsupported media type "{content_type}" in request.'})
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, bytes, str]] = {}
    for chunk in body.split(b"--" + found.group(1).encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, content = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        content = content.removesuffix(b"\r\n")
        headers = {}
        for line in head.decode("utf-8").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name_match = re.search(r'\bname="([^"]*)"', disposition)
        filename_match = re.search(r'\bfilename="([^"]*)"', disposition)
        if not name_match:
            continue
        if filename_match:
            kind = headers.get("content-type", "application/octet-stream")
            files[name_match.group(1)] = (filename_match.group(1), content, kind)
        else:
            fields[name_match.group(1)] = content.decode("utf-8")
    return fields, files


async def form_data(request: Request) -> tuple[dict[str, str], dict[str, tuple[str, bytes, str]]]:
    content_type = request.headers.get("content-type", "")
    body = await request.body()
    if content_type.startswith("application/x-www-form-urlencoded"):
        return {key: values[-1] for key, values in parse_qs(body.decode()).items()}, {}
    if content_type.startswith("application/json"):
        return {key: str(value) for key, value in json.loads(body or b"{}").items()}, {}
    return parse_multipart(body, content_type)


async def json_data(request: Request) -> dict[str, Any]:
    body = await request.body()
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise ApiError(400, {"detail": "JSON parse error"}) from None
    if not isinstance(data, dict):
        raise ApiError(400, {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]})
    return data


def _json_param(params: Any, name: str) -> Any:
    try:
        return json.loads(params[name])
    except ValueError:
        raise ApiError(400, {name: "Value must be valid JSON."}) from None


def _strict_int(text: str, *, minimum: int, error: dict[str, str]) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ApiError(400, error) from None
    if value < minimum:
        raise ApiError(400, error)
    return value


# ---------------------------------------------------------------------------------------------------------------
# endpoint logic: what the routes do besides parsing and rendering
# ---------------------------------------------------------------------------------------------------------------


def new_media_file(
    asset: Asset, fields: dict[str, str], files: dict[str, tuple[str, bytes, str]], user: str, now: datetime
) -> MediaFile:
    """Validate an upload the way KPI's AssetFileSerializer does (exact error bodies) and build the file."""
    if "file_type" not in fields:
        raise ApiError(400, {"file_type": ["This field is required."]})
    if fields["file_type"] != "form_media":
        raise ApiError(400, {"file_type": [f'"{fields["file_type"]}" is not a valid choice.']})
    if not fields.get("description"):
        raise ApiError(400, {"description": ["This field is required."]})
    metadata: dict[str, Any] = {}
    if fields.get("metadata"):
        try:
            metadata = json.loads(fields["metadata"])
        except ValueError:
            raise ApiError(400, {"metadata": ["Value must be valid JSON."]}) from None
    given = {"content": "content" in files, "base64Encoded": "base64Encoded" in fields}
    given["metadata"] = "redirect_url" in metadata
    ways = [way for way, present in given.items() if present]
    if len(ways) > 1:
        raise ApiError(
            400,
            {
                "detail": "You cannot upload media file with two different ways at the same time. Please check for "
                "`content`, `base64Encoded` and `metadata.redirect_url` parameters."
            },
        )
    if not ways:
        raise ApiError(400, {"content": ["No file was submitted."]})
    way, content, redirect_url = ways[0], b"", None
    if way == "content":
        filename, content, _ = files["content"]
    elif way == "base64Encoded":
        encoded = fields["base64Encoded"]
        if "base64" not in encoded:
            raise ApiError(400, {"base64Encoded": ["Invalid content"]})
        content = base64.b64decode(encoded[encoded.index("base64") + 7 :])
        filename = str(metadata.get("filename", ""))
    else:
        redirect_url = str(metadata["redirect_url"])
        filename = urlsplit(redirect_url).path.rsplit("/", 1)[-1]
    mimetype = mimetypes.guess_type(filename)[0] or ""
    if not mimetype.startswith(MEDIA_TYPES_ALLOWED[:3]) and mimetype not in MEDIA_TYPES_ALLOWED[3:]:
        raise ApiError(400, {way: [MIME_ERROR]})
    if any(f.filename == filename for f in asset.live_files()):
        raise ApiError(400, {way: ["File already exists"]})
    return MediaFile(new_uid("af", 23), filename, content, mimetype, fields["description"], user, now, redirect_url)


def import_body(task: ImportTask) -> dict[str, Any]:
    return {"status": task.status, "uid": task.uid, "messages": task.messages, "date_created": iso(task.date_created)}


def run_import(fake: KoboFake, task: ImportTask) -> None:
    """The Celery task: read the XLSForm, then replace the destination's content or create an asset."""
    try:
        if task.xlsx is None:
            raise ImportProblem("NotImplementedError", "the fake imports uploaded files only (no `url`)")
        content = read_xlsform(task.xlsx)
        now = fake.clock()
        destination = task.fields.get("destination")
        if destination:
            found = re.search(r"/api/v2/assets/([^/]+)/?$", urlsplit(destination).path)
            asset = fake.assets.get(found.group(1)) if found else None
            if asset is None or asset.owner != task.owner:
                raise ImportProblem("PermissionDenied", "You do not have permission to perform this action.")
            asset.save_content(content, now, task.xlsx)
            key = "updated"
        else:
            library = task.fields.get("library") not in ("false", False)  # missing means library, as in KPI
            kind = task.fields.get("desired_type") or (
                ("question" if len(content["survey"]) == 1 else "block") if library else "survey"
            )
            asset = Asset(new_uid("a"), task.fields.get("name", ""), task.owner, kind, now, now)
            asset.save_content(content, now, task.xlsx)
            fake.assets[asset.uid] = asset
            key = "created"
        if task.fields.get("name"):
            asset.name = task.fields["name"]
        summary = content_summary(content)
        task.messages = {
            key: [{"uid": asset.uid, "summary": summary, "kind": "asset", "owner__username": asset.owner}],
            "audit_logs": [
                {
                    "asset_uid": asset.uid,
                    "latest_version_uid": asset.version.uid,
                    "source": "fake",
                    "new_name": asset.name,
                    "project_owner": asset.owner,
                }
            ],
        }
        task.status = "complete"
    except ImportProblem as problem:
        task.status = "error"
        task.messages = {"error_type": problem.error_type, "error": problem.message}


def data_page(fake: KoboFake, asset: Asset, request: Request, url: str, base: str) -> dict[str, Any]:
    """The data endpoint: KPI's parameter checks (exact 400 bodies), filter, count, sort, slice, project, link."""
    if asset.deployment is None:
        raise ApiError(400, {"detail": "The specified asset has not been deployed"})
    params = request.query_params
    if "count" in params:
        raise ApiError(400, {"count": "This param is not implemented. Use `count` property of the response instead."})
    limit = fake.default_limit
    if "limit" in params:
        limit = _strict_int(params["limit"], minimum=1, error={"limit": "A positive integer is required"})
    limit = min(limit, fake.max_limit)
    start = 0
    if "start" in params:
        start = _strict_int(params["start"], minimum=0, error={"start": "A positive integer is required."})
    link_start = start
    if "start" not in params and "offset" in params:  # accepted by the paginator only: results still start at 0
        link_start = _offset(params["offset"])
    query = _json_param(params, "query") if params.get("query") else {}
    sort = _json_param(params, "sort") if params.get("sort") else {"_id": 1}
    fields = _json_param(params, "fields") if params.get("fields") else None
    if not isinstance(sort, dict) or (fields is not None and not isinstance(fields, list)):
        raise ApiError(400, ["Unsupported query"])
    try:
        if not isinstance(query, dict):
            raise UnsupportedQuery("the query must be an object")
        found = [r for r in asset.visible_records() if matches(r, safe_query(query))]
        found = sort_records(found, sort)
    except UnsupportedQuery:
        raise ApiError(400, ["Unsupported query"]) from None
    results = [fake._render(asset, record, base) for record in found[start : start + limit]]
    if fields is not None:
        results = [project(record, [str(name) for name in fields]) for record in results]
    next_link, previous = page_links(url, start=link_start, limit=limit, count=len(found))
    return {"count": len(found), "next": next_link, "previous": previous, "results": results}


def malformed_page(body: dict[str, Any], kind: str, key: str) -> Response:
    if kind == "json":
        return Response(json.dumps(body)[: max(10, len(json.dumps(body)) // 2)], media_type="application/json")
    broken = dict(body)
    if kind == "missing":
        broken.pop(key, None)
    elif broken["results"]:
        broken["results"] = [{k: v for k, v in broken["results"][0].items() if k != "_id"}, *broken["results"][1:]]
    return JSONResponse(broken)


# ---------------------------------------------------------------------------------------------------------------
# routes
# ---------------------------------------------------------------------------------------------------------------


def build_app(fake: KoboFake) -> FastAPI:
    """The KPI v2 routes the sync layer and the peer clients use; every route also answers with `.json`."""
    app = FastAPI(redirect_slashes=False, openapi_url=None, docs_url=None, redoc_url=None)

    def route(path: str, methods: list[str]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(handler: Callable[..., Any]) -> Callable[..., Any]:
            for variant in (path, path[:-1] + ".json"):
                app.add_api_route(variant, handler, methods=methods, include_in_schema=False)
            return handler

        return register

    def base(request: Request) -> str:
        return fake.link_base or str(request.base_url).rstrip("/")

    def absolute(request: Request) -> str:
        """DRF's `build_absolute_uri()`: the URL as the client asked for it."""
        if fake.link_base is None:
            return str(request.url)
        query = request.url.query
        return f"{fake.link_base}{request.url.path}" + (f"?{query}" if query else "")

    def paged(request: Request, items: list[Any]) -> dict[str, Any]:
        params = request.query_params
        limit = _positive_int(params.get("limit"), fake.default_limit, fake.max_limit)
        start = _offset(params.get("start"))
        next_link, previous = page_links(absolute(request), start=start, limit=limit, count=len(items))
        return {"count": len(items), "next": next_link, "previous": previous, "results": items[start : start + limit]}

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> Response:
        return error.response()

    @app.middleware("http")
    async def faults(request: Request, call_next: Callable[[Request], Any]) -> Response:
        delay, failure = fake._admit(request)
        if delay:
            await asyncio.sleep(delay)
        if failure is not None:
            return failure
        if request.query_params.get("format", "json") != "json":
            return JSONResponse(NOT_FOUND, 404)  # DRF: an unknown format suffix; the fake serves JSON only
        return await call_next(request)

    # -- assets ---------------------------------------------------------------------------------------------

    @route("/api/v2/assets/", ["GET"])
    async def list_assets(request: Request) -> Response:
        with fake.lock:
            user = fake._user(request)
            terms = [term.split(":", 1) for term in request.query_params.get("q", "").split() if ":" in term]
            visible = [
                render_asset(a, base(request), with_content=False) for a in fake.assets.values() if a.readable_by(user)
            ]
            items = [item for item in visible if all(str(item.get(key)) == value for key, value in terms)]
            return JSONResponse(paged(request, items))

    @route("/api/v2/assets/", ["POST"])
    async def create_asset(request: Request) -> Response:
        data = await json_data(request)
        with fake.lock:
            user = fake._user(request)
            kind = data.get("asset_type")
            if kind is None:
                raise ApiError(400, {"asset_type": ["This field is required."]})
            if kind not in ("survey", "block", "question", "template", "empty", "collection"):
                raise ApiError(400, {"asset_type": [f'"{kind}" is not a valid choice.']})
            now = fake.clock()
            asset = Asset(new_uid("a"), str(data.get("name", "")), user, kind, now, now)
            content = data.get("content") or {"survey": [], "settings": {}}
            for sheet in ("survey", "choices"):
                if isinstance(content.get(sheet), list):
                    content[sheet] = kpi_rows(content[sheet])
            asset.save_content(content, now)
            fake.assets[asset.uid] = asset
            return JSONResponse(render_asset(asset, base(request)), 201)

    @route("/api/v2/assets/{uid}/", ["GET"])
    async def get_asset(request: Request, uid: str) -> Response:
        with fake.lock:
            asset = fake._visible_asset(uid, fake._user(request))
            return JSONResponse(render_asset(asset, base(request)))

    @route("/api/v2/assets/{uid}/", ["DELETE"])
    async def delete_asset(request: Request, uid: str) -> Response:
        with fake.lock:
            fake._visible_asset(uid, fake._user(request))
            fake.delete_asset(uid)
            return Response(status_code=204)

    @route("/api/v2/assets/{uid}/versions/", ["GET"])
    async def list_versions(request: Request, uid: str) -> Response:
        with fake.lock:
            asset = fake._visible_asset(uid, fake._user(request))
            only_deployed = request.query_params.get("deployed") == "true"
            versions = [v for v in reversed(asset.versions) if v.deployed or not only_deployed]
            return JSONResponse(paged(request, [render_version(asset, v, base(request)) for v in versions]))

    @route("/api/v2/assets/{uid}/versions/{vuid}/", ["GET"])
    async def get_version(request: Request, uid: str, vuid: str) -> Response:
        with fake.lock:
            asset = fake._visible_asset(uid, fake._user(request))
            for version in asset.versions:
                if version.uid == vuid:
                    body = render_version(asset, version, base(request))
                    return JSONResponse({**body, "content": copy.deepcopy(version.content)})
            raise ApiError(404, NOT_FOUND)

    # -- deployment -----------------------------------------------------------------------------------------

    def deployment_body(asset: Asset, request: Request) -> dict[str, Any]:
        assert asset.deployment is not None
        return {
            "backend": "openrosa",
            "active": asset.deployment.active,
            "version_id": asset.deployment.version_id,
            "asset": render_asset(asset, base(request)),
        }

    def check_deployable(asset: Asset, data: dict[str, Any]) -> None:
        if asset.asset_type != "survey":
            raise SERVER_ERROR  # BadAssetTypeException is a plain exception in KPI
        if "version_id" in data and data["version_id"] != asset.version.uid:
            raise SERVER_ERROR  # NotImplementedError('Only the current version_id can be deployed')
        version = asset.version
        if version.xlsx is not None:
            try:
                convert(io.BytesIO(version.xlsx), file_type=".xlsx")
            except PyXFormError as error:
                raise ApiError(400, {"error": str(error)}) from error
        elif not question_paths(version.content):
            raise ApiError(400, {"error": "The survey sheet has no questions."})

    @route("/api/v2/assets/{uid}/deployment/", ["GET"])
    async def get_deployment(request: Request, uid: str) -> Response:
        with fake.lock:
            asset = fake._visible_asset(uid, fake._user(request))
            if asset.deployment is None:
                raise ApiError(404, NOT_FOUND)
            return JSONResponse(deployment_body(asset, request))

    @route("/api/v2/assets/{uid}/deployment/", ["POST"])
    async def create_deployment(request: Request, uid: str) -> Response:
        data = await json_data(request)
        with fake.lock:
            asset = fake._visible_asset(uid, fake._user(request))
            if asset.deployment is not None:
                raise ApiError(405, {"detail": "Use PATCH to update an existing deployment"})
            check_deployable(asset, data)
            fake._deploy(asset, active=bool(data.get("active", False)))
            return JSONResponse(deployment_body(asset, request), 200)

    @route("/api/v2/assets/{uid}/deployment/", ["PATCH"])
    async def update_deployment(request: Request, uid: str) -> Response:
        data = await json_data(request)
        with fake.lock:
            asset = fake._visible_asset(uid, fake._user(request))
            if asset.deployment is None:
                raise ApiError(405, {"detail": "Use POST to create a new deployment"})
            if "backend" in data and data["backend"] != "openrosa":
                raise ApiError(400, {"backend": "This field cannot be modified after the initial deployment."})
            if set(data) <= {"active"}:  # archive/unarchive only: nothing is redeployed
                asset.deployment.active = bool(data.get("active", asset.deployment.active))
            else:
                check_deployable(asset, data)
                fake._deploy(asset, active=bool(data.get("active", asset.deployment.active)))
            return JSONResponse(deployment_body(asset, request))

    # -- form media -----------------------------------------------------------------------------------------

    def find_file(asset: Asset, fuid: str) -> MediaFile:
        for media in asset.live_files():
            if media.uid == fuid:
                return media
        raise ApiError(404, NOT_FOUND)

    @route("/api/v2/assets/{uid}/files/", ["GET"])
    async def list_files(request: Request, uid: str) -> Response:
        with fake.lock:
            asset = fake._visible_asset(uid, fake._user(request))
            wanted = request.query_params.get("file_type")
            files = [render_file(asset, f, base(request)) for f in asset.live_files()]
            return JSONResponse(paged(request, [f for f in files if wanted in (None, f["file_type"])]))

    @route("/api/v2/assets/{uid}/files/", ["POST"])
    async def upload_file(request: Request, uid: str) -> Response:
        fields, files = await form_data(request)
        with fake.lock:
            user = fake._user(request)
            media = new_media_file(fake._visible_asset(uid, user), fields, files, user, fake.clock())
            asset = fake.assets[uid]
            asset.files.append(media)
            return JSONResponse(render_file(asset, media, base(request)), 201)

    @route("/api/v2/assets/{uid}/files/{fuid}/", ["GET"])
    async def get_file(request: Request, uid: str, fuid: str) -> Response:
        with fake.lock:
            asset = fake._visible_asset(uid, fake._user(request))
            return JSONResponse(render_file(asset, find_file(asset, fuid), base(request)))

    @route("/api/v2/assets/{uid}/files/{fuid}/", ["DELETE"])
    async def delete_file(request: Request, uid: str, fuid: str) -> Response:
        with fake.lock:
            asset = fake._visible_asset(uid, fake._user(request))
            find_file(asset, fuid).date_deleted = fake.clock()  # a soft delete, as for all form media
            return Response(status_code=204)

    @app.get("/api/v2/assets/{uid}/files/{fuid}/content/")
    async def file_content(request: Request, uid: str, fuid: str) -> Response:
        with fake.lock:
            media = find_file(fake._visible_asset(uid, fake._user(request)), fuid)
            if media.redirect_url:
                return RedirectResponse(media.redirect_url, 302)
            return Response(media.content, media_type=media.mimetype)

    # -- imports --------------------------------------------------------------------------------------------

    @route("/api/v2/imports/", ["POST"])
    async def create_import(request: Request) -> Response:
        fields, files = await form_data(request)
        with fake.lock:
            user = fake._user(request)
            xlsx = files["file"][1] if "file" in files else None
            if xlsx is None and "base64Encoded" in fields:
                encoded = fields["base64Encoded"]
                if "base64" not in encoded:
                    raise SERVER_ERROR  # the view slices at index('base64') + 7: a ValueError, so a 500
                xlsx = base64.b64decode(encoded[encoded.index("base64") + 7 :])
            task = ImportTask(new_uid("i"), user, fields, xlsx, fake.clock())
            fake.imports[task.uid] = task
            url = f"{base(request)}/api/v2/imports/{task.uid}/"
            return JSONResponse({"uid": task.uid, "url": url, "status": "processing"}, 201)

    @route("/api/v2/imports/", ["GET"])
    async def list_imports(request: Request) -> Response:
        with fake.lock:
            user = fake._user(request)
            tasks = sorted((t for t in fake.imports.values() if t.owner == user), key=lambda t: t.date_created)
            items = [{**import_body(t), "url": f"{base(request)}/api/v2/imports/{t.uid}/"} for t in tasks]
            return JSONResponse(paged(request, items))

    @route("/api/v2/imports/{iuid}/", ["GET"])
    async def get_import(request: Request, iuid: str) -> Response:
        with fake.lock:
            user = fake._user(request)
            task = fake.imports.get(iuid)
            if task is None or task.owner != user:
                raise ApiError(404, NOT_FOUND)
            if task.status in ("created", "processing"):
                task.polls += 1
                if task.polls > fake.import_polls:
                    run_import(fake, task)
                else:
                    task.status = "processing"
            return JSONResponse(import_body(task))

    # -- submissions ----------------------------------------------------------------------------------------

    @route("/api/v2/assets/{uid}/data/", ["GET"])
    async def list_data(request: Request, uid: str) -> Response:
        with fake.lock:
            asset = fake._visible_asset(uid, fake._user(request))
            body = data_page(fake, asset, request, absolute(request), base(request))
            fake.data_requests += 1
            number, faults = fake.data_requests, fake.faults
        if faults.between_pages is not None:
            faults.between_pages(number)
        if number == faults.malformed_at:
            return malformed_page(body, faults.malformed_kind, faults.malformed_key)
        return JSONResponse(body)

    @route("/api/v2/assets/{uid}/data/bulk/", ["DELETE"])
    async def bulk_delete(request: Request, uid: str) -> Response:
        data = await json_data(request)
        with fake.lock:
            asset = fake._visible_asset(uid, fake._user(request))
            payload = data.get("payload") or {}
            records = asset.visible_records()
            if "submission_ids" in payload:
                ids = payload["submission_ids"]
                if not isinstance(ids, list) or not all(isinstance(i, int) and i in asset.records for i in ids):
                    raise ApiError(400, {"detail": "One or more submission ids are invalid"})
                doomed = list(ids)
            elif "query" in payload:
                doomed = [r["_id"] for r in records if matches(r, safe_query(payload["query"]))]
            elif payload.get("confirm") is True:
                doomed = [r["_id"] for r in records]
            else:
                raise ApiError(400, {"detail": "Missing `payload`"})
            for _id in doomed:
                fake.delete_submission(uid, _id)
            return JSONResponse({"detail": f"{len(doomed)} submissions have been deleted"})

    def find_record(asset: Asset, sid: str) -> dict[str, Any]:
        """`{id}`: a positive int is an `_id`; anything else is a root uuid or an `_uuid` (first match)."""
        records = asset.visible_records()
        if sid.isdigit() and int(sid) > 0:
            found = [r for r in records if r["_id"] == int(sid)]
        else:
            found = [r for r in records if r.get("meta/rootUuid") == f"uuid:{sid}" or r.get("_uuid") == sid]
        if not found:
            raise ApiError(404, NOT_FOUND)
        return found[0]

    @route("/api/v2/assets/{uid}/data/{sid}/", ["GET"])
    async def get_submission(request: Request, uid: str, sid: str) -> Response:
        with fake.lock:
            asset = fake._visible_asset(uid, fake._user(request))
            return JSONResponse(fake._render(asset, find_record(asset, sid), base(request)))

    @route("/api/v2/assets/{uid}/data/{sid}/", ["DELETE"])
    async def delete_submission(request: Request, uid: str, sid: str) -> Response:
        with fake.lock:
            asset = fake._visible_asset(uid, fake._user(request))
            fake.delete_submission(uid, find_record(asset, sid)["_id"])
            return Response(status_code=204)

    @route("/api/v2/assets/{uid}/data/{sid}/validation_status/", ["GET", "PATCH", "DELETE"])
    async def validation_status(request: Request, uid: str, sid: str) -> Response:
        data = await json_data(request) if request.method == "PATCH" else {}
        with fake.lock:
            user = fake._user(request)
            record = find_record(fake._visible_asset(uid, user), sid)
            if request.method == "DELETE":
                record["_validation_status"] = {}
                return Response(status_code=204)
            if request.method == "PATCH":
                record["_validation_status"] = _validation_status(data.get("validation_status.uid"), user)
            return JSONResponse(record["_validation_status"])

    # -- everything else ------------------------------------------------------------------------------------

    @app.api_route("/{path:path}", methods=["GET", "POST", "PATCH", "PUT", "DELETE"], include_in_schema=False)
    async def fallback(request: Request, path: str) -> Response:
        if path.startswith("api/v1/") or path.split("/")[0] in ("assets", "imports", "exports"):
            return JSONResponse(V1_GONE, 410)
        if not path.endswith("/") and not path.endswith(".json"):
            # Django's APPEND_SLASH: a redirect, after which a POST has lost its body
            query = request.url.query
            return RedirectResponse(f"/{path}/" + (f"?{query}" if query else ""), 301)
        return JSONResponse(NOT_FOUND, 404)

    return app


# ---------------------------------------------------------------------------------------------------------------
# serving
# ---------------------------------------------------------------------------------------------------------------
