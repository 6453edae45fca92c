"""A fake ODK Central (v2024.2 or v2026.2) as a FastAPI app, plus a harness to shape its data and inject faults.

It follows /work/shared/contracts/odk-central.md where a sync client can tell the difference: `/v1` paths,
problem bodies `{"message", "code", "details"}` with Central's subcodes, session login and expiry, forms built
from XForm XML (drafts, expected media, publish with a version), App Users and form roles, and the OData feed
(filterable fields only, `$select`/`$expand` rules, unknown query keys refused, newest-first order, an opaque
`$skiptoken` keyset cursor, soft deletes hidden unless `deletedAt` is filtered on).

    fake = CentralFake(version="2026.2")
    fake.add_user("sync@example.org", "secret")
    project = fake.add_project()
    fake.add_form(project, make_xform("survey", "1"))
    row = fake.add_submission(project, "survey", {"name": "Amina", "age": 31})
    with serve(fake.app) as url: ...

Sections: time and problems · XForms · state · OData filters · rows · the harness (`CentralFake`) · routes.
Not reproduced: OpenRosa endpoints, `/v1/key/…` App User access, XLSForm conversion, entities, ETags, CSV
exports, submission XML and attachments, per-project rights (every web user is an administrator).
"""

import asyncio
import base64
import hashlib
import json
import operator
import re
import secrets
import string
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote
from xml.sax.saxutils import escape, quoteattr

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

VERSIONS = ("2024.2", "2026.2")
SESSION_LIFETIME = timedelta(seconds=86400)

# ---------------------------------------------------------------------------------------------------------------
# Time and problems
# ---------------------------------------------------------------------------------------------------------------


class Clock:
    """The server's clock: `stamp()` moves it 1 ms so every write gets its own, ordered timestamp."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime.now(UTC)
        self._now = start.replace(microsecond=start.microsecond // 1000 * 1000)

    def now(self) -> datetime:
        return self._now

    def stamp(self) -> datetime:
        self._now += timedelta(milliseconds=1)
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now


def iso(moment: datetime | None) -> str | None:
    """Central's timestamps: UTC, milliseconds, `Z`."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_moment(text: str) -> datetime:
    """An ISO date or timestamp; a date is midnight UTC and a naive time is UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Problem(Exception):
    """A Central problem: HTTP status + subcode (`409.6`), a message and details."""

    def __init__(self, code: str, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.details = code, message, dict(details or {})
        self.status = int(code.split(".")[0])

    def response(self) -> JSONResponse:
        body = {"message": self.message, "code": float(self.code), "details": self.details}
        return JSONResponse(body, status_code=self.status)


def not_found() -> Problem:
    return Problem("404.1", "Could not find the resource you were looking for.")


def auth_failed() -> Problem:
    return Problem("401.2", "Could not authenticate with the provided credentials.")


def insufficient_rights() -> Problem:
    return Problem("403.1", "The authenticated actor does not have rights to perform that action.")


def not_implemented(feature: str) -> Problem:
    return Problem("501.1", f"The requested feature {feature} is not supported by this server.", {"feature": feature})


def unexpected_value(name: str, value: object, reason: str) -> Problem:
    return Problem("400.8", f"Unexpected {name} value {value}; {reason}.", {"field": name, "value": value})


def already_exists(fields: str, values: str) -> Problem:
    return Problem(
        "409.3", f"A resource already exists with {fields} value(s) of {values}.", {"fields": fields, "values": values}
    )


def unparseable_filter(reason: str) -> Problem:
    return Problem("400.18", f"The OData filter expression you provided could not be parsed: {reason}")


# ---------------------------------------------------------------------------------------------------------------
# XForms: what Central extracts (id, version, title, fields, expected media) and a builder for tests
# ---------------------------------------------------------------------------------------------------------------

JR = "{http://openrosa.org/javarosa}"
MEDIA_REFERENCE = re.compile(r"jr://(images|audio|video|file-csv|file)/([^\s\"'<>]+)")
MEDIA_TYPES = {"images": "image", "audio": "audio", "video": "video", "file-csv": "file", "file": "file"}


@dataclass(frozen=True)
class Node:
    """One element of the primary instance: a value (with its bind type), a group or a repeat."""

    name: str
    kind: str  # "value" | "group" | "repeat"
    type: str
    path: tuple[str, ...]
    children: tuple["Node", ...] = ()


@dataclass
class Attachment:
    name: str
    type: str
    content: bytes | None = None
    content_type: str | None = None
    updated_at: datetime | None = None

    @property
    def hash(self) -> str | None:
        return hashlib.md5(self.content, usedforsecurity=False).hexdigest() if self.content is not None else None


@dataclass
class Definition:
    """One form definition (a draft or a published version), parsed from its XForm."""

    xml: bytes
    xml_form_id: str
    version: str
    title: str
    fields: tuple[Node, ...]
    attachments: dict[str, Attachment]
    published_at: datetime | None = None

    @classmethod
    def from_xml(cls, xml: bytes) -> "Definition":
        try:
            root = ET.fromstring(xml)
        except ET.ParseError as error:
            raise Problem("400.1", f"Could not parse the given data ({len(xml)} chars) as xml.") from error
        instance = next((e for e in root.iter() if _local(e.tag) == "instance" and "src" not in e.attrib), None)
        data = next(iter(instance), None) if instance is not None else None
        if data is None or not data.get("id"):
            raise Problem("400.2", "The form does not have an id attribute on its primary instance.")
        binds = {b.get("nodeset"): b.get("type", "string") for b in root.iter() if _local(b.tag) == "bind"}
        repeats = {e.get("nodeset") for e in root.iter() if _local(e.tag) == "repeat"}
        title = next((e.text or "" for e in root.iter() if _local(e.tag) == "title"), "")
        text = xml.decode("utf-8", "replace")
        attachments: dict[str, Attachment] = {}
        for prefix, name in MEDIA_REFERENCE.findall(text):
            attachments.setdefault(name, Attachment(name, MEDIA_TYPES[prefix]))
        return cls(
            xml=xml,
            xml_form_id=str(data.get("id")),
            version=data.get("version") or "",
            title=title,
            fields=_nodes(data, (), f"/{_local(data.tag)}", binds, repeats),
            attachments=attachments,
        )

    @property
    def repeat_tables(self) -> list[str]:
        return ["Submissions." + ".".join(node.path) for node in walk(self.fields) if node.kind == "repeat"]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _nodes(
    element: ET.Element, path: tuple[str, ...], xpath: str, binds: Mapping[str | None, str], repeats: set[str | None]
) -> tuple[Node, ...]:
    nodes: dict[str, Node] = {}
    for child in element:
        name = _local(child.tag)
        if name in nodes:  # pyxform writes a repeat twice: its template and a first instance
            continue
        child_path, child_xpath = (*path, name), f"{xpath}/{name}"
        if f"{JR}template" in child.attrib or child_xpath in repeats:
            kind = "repeat"
        elif len(child):
            kind = "group"
        else:
            nodes[name] = Node(name, "value", binds.get(child_xpath, "string"), child_path)
            continue
        nodes[name] = Node(name, kind, kind, child_path, _nodes(child, child_path, child_xpath, binds, repeats))
    return tuple(nodes.values())


def walk(nodes: Sequence[Node]) -> Iterator[Node]:
    for node in nodes:
        yield node
        yield from walk(node.children)


FieldSpec = Mapping[str, "str | FieldSpec | list[FieldSpec]"]
DEFAULT_FIELDS: FieldSpec = {
    "name": "string",
    "age": "int",
    "household": {"size": "int", "village": "string"},
    "people": [{"person": "string", "years": "int"}],
}


def make_xform(
    form_id: str, version: str, *, fields: FieldSpec = DEFAULT_FIELDS, media: Sequence[str] = (), title: str = ""
) -> bytes:
    """A small XForm like pyxform writes: `fields` maps names to bind types, dicts (groups) or `[dict]` (repeats).

    Media: `*.csv` become `jr://file-csv/` secondary instances, images `jr://images/` itext, others `jr://file/`.
    """
    instance: list[str] = []
    binds: list[str] = []
    body: list[str] = []

    def add(spec: FieldSpec, xpath: str) -> None:
        for name, kind in spec.items():
            ref = f"{xpath}/{name}"
            if isinstance(kind, str):
                instance.append(f"<{name}/>")
                binds.append(f'<bind nodeset="{ref}" type="{kind}"/>')
                body.append(f'<input ref="{ref}"><label>{name}</label></input>')
            else:
                repeat = isinstance(kind, list)
                instance.append(f'<{name} jr:template="">' if repeat else f"<{name}>")
                body.append(f'<group ref="{ref}">' + (f'<repeat nodeset="{ref}">' if repeat else ""))
                add(kind[0] if isinstance(kind, list) else kind, ref)
                instance.append(f"</{name}>")
                body.append(("</repeat>" if repeat else "") + "</group>")

    add(fields, "/data")
    secondary, itext = [], []
    for name in media:
        if name.endswith(".csv"):
            secondary.append(f'<instance id={quoteattr(name[:-4])} src="jr://file-csv/{escape(name)}"/>')
        elif name.rsplit(".", 1)[-1].lower() in ("png", "jpg", "jpeg"):
            itext.append(
                f'<text id="/data/logo:{escape(name)}"><value form="image">jr://images/{escape(name)}</value></text>'
            )
        else:
            secondary.append(f'<instance id={quoteattr(name)} src="jr://file/{escape(name)}"/>')
    translations = f'<itext><translation lang="default" default="true()">{"".join(itext)}</translation></itext>'
    xml = (
        '<?xml version="1.0"?>\n'
        '<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml" '
        'xmlns:jr="http://openrosa.org/javarosa" xmlns:odk="http://www.opendatakit.org/xforms">'
        f'<h:head><h:title>{escape(title or form_id)}</h:title><model odk:xforms-version="1.0.0">'
        f"{translations if itext else ''}"
        f"<instance><data id={quoteattr(form_id)} version={quoteattr(version)}>{''.join(instance)}"
        "<meta><instanceID/></meta></data></instance>"
        f"{''.join(secondary)}{''.join(binds)}"
        '<bind nodeset="/data/meta/instanceID" type="string" readonly="true()" jr:preload="uid"/>'
        f"</model></h:head><h:body>{''.join(body)}</h:body></h:html>"
    )
    return xml.encode()


# ---------------------------------------------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Actor:
    id: int
    type: str  # "user" | "field_key"
    display_name: str
    created_at: datetime
    email: str | None = None
    password: str | None = None
    project_id: int | None = None
    token: str | None = None  # an App User's key

    def json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "displayName": self.display_name,
            "createdAt": iso(self.created_at),
            "updatedAt": None,
            "deletedAt": None,
        }
        if self.type == "user":
            body["email"] = self.email
        else:
            body |= {"token": self.token, "projectId": self.project_id, "expiresAt": "9999-12-31T23:59:59.000Z"}
        return body


@dataclass
class Session:
    token: str
    actor_id: int
    created_at: datetime
    expires_at: datetime
    ended: bool = False


@dataclass
class Version:
    instance_id: str
    answers: dict[str, Any]
    created_at: datetime


@dataclass
class Submission:
    seq: int
    instance_id: str  # the first instanceID: `__id` forever
    versions: list[Version]
    created_at: datetime
    submitter_id: int
    form_version: str
    device_id: str | None = None
    updated_at: datetime | None = None
    review_state: str | None = None
    deleted_at: datetime | None = None

    @property
    def current(self) -> Version:
        return self.versions[-1]

    def system(self, name: str) -> Any:
        """A filterable `__system` value (or `__id`), typed for comparisons."""
        return {
            "submissionDate": self.created_at,
            "updatedAt": self.updated_at,
            "submitterId": self.submitter_id,
            "reviewState": self.review_state,
            "deletedAt": self.deleted_at,
            "__id": self.instance_id,
        }[name]


@dataclass
class Form:
    project_id: int
    xml_form_id: str
    created_at: datetime
    draft: Definition | None = None
    draft_token: str | None = None
    published: list[Definition] = field(default_factory=list)  # newest first
    updated_at: datetime | None = None
    assignments: set[tuple[int, int]] = field(default_factory=set)  # (role id, actor id)
    submissions: dict[str, Submission] = field(default_factory=dict)  # by root instance id

    @property
    def current(self) -> Definition | None:
        return self.published[0] if self.published else None


ROLES: list[dict[str, Any]] = [
    {"id": 1, "name": "Administrator", "system": "admin"},
    {"id": 2, "name": "Project Manager", "system": "manager"},
    {"id": 3, "name": "Project Viewer", "system": "viewer"},
    {"id": 5, "name": "Data Collector", "system": "formfill"},
    {"id": 7, "name": "App User", "system": "app-user"},
    {"id": 8, "name": "Public Link", "system": "pub-link"},
]

# ---------------------------------------------------------------------------------------------------------------
# OData $filter: the grammar Central accepts, on the fields it can filter
# ---------------------------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^']|'')*')
    | (?P<moment>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<punct>[(),])
    | (?P<word>[A-Za-z_$][\w$/]*)
    )""",
    re.VERBOSE,
)
_COMPARISONS = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}
_FUNCTIONS = {"now", "year", "month", "day", "hour", "minute", "second"}
_ROOT_PREFIX = "$root/Submissions/"

Expr = tuple[Any, ...]


def filterable_fields(version: str) -> dict[str, str]:
    """OData name → Submission.system key, for this Central version (`lib/data/submission.js`)."""
    fields = {
        "__system/submissionDate": "submissionDate",
        "__system/updatedAt": "updatedAt",
        "__system/submitterId": "submitterId",
        "__system/reviewState": "reviewState",
    }
    if version >= "2024.3":
        fields |= {"__system/deletedAt": "deletedAt", "__id": "__id"}
    return fields


class FilterParser:
    """Recursive descent over `or` / `and` / `not` / comparisons / literals / functions / fields.

    Fields are checked while parsing, so an unsupported one answers 501.5 even when no row would be compared.
    """

    def __init__(self, text: str, fields: Mapping[str, str]) -> None:
        self.tokens = self._tokenize(text)
        self.fields = fields
        self.referenced: set[str] = set()
        self.at = 0

    @staticmethod
    def _tokenize(text: str) -> list[tuple[str, str]]:
        tokens, position = [], 0
        while text[position:].strip():
            match = _TOKEN.match(text, position)
            if match is None or match.lastgroup is None:
                raise unparseable_filter(f"unexpected text at {text[position : position + 20]!r}")
            tokens.append((match.lastgroup, match.group(match.lastgroup)))
            position = match.end()
        return tokens

    def parse(self) -> Expr:
        expression = self._or()
        if self.at != len(self.tokens):
            raise unparseable_filter(f"unexpected {self.tokens[self.at][1]!r}")
        return expression

    def _peek(self) -> tuple[str, str]:
        return self.tokens[self.at] if self.at < len(self.tokens) else ("end", "")

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if token[0] == "end":
            raise unparseable_filter("the expression ends too early")
        self.at += 1
        return token

    def _or(self) -> Expr:
        expression = self._and()
        while self._peek() == ("word", "or"):
            self._take()
            expression = ("or", expression, self._and())
        return expression

    def _and(self) -> Expr:
        expression = self._not()
        while self._peek() == ("word", "and"):
            self._take()
            expression = ("and", expression, self._not())
        return expression

    def _not(self) -> Expr:
        if self._peek() == ("word", "not"):
            self._take()
            return ("not", self._not())
        left = self._primary()
        kind, word = self._peek()
        if kind == "word" and word in _COMPARISONS:
            self._take()
            return ("compare", word, left, self._primary())
        return left

    def _primary(self) -> Expr:
        kind, text = self._take()
        if (kind, text) == ("punct", "("):
            expression = self._or()
            if self._take() != ("punct", ")"):
                raise unparseable_filter("missing ')'")
            return expression
        if kind == "string":
            return ("literal", text[1:-1].replace("''", "'"))
        if kind == "moment":
            return ("literal", parse_moment(text))
        if kind == "number":
            return ("literal", float(text) if "." in text else int(text))
        if kind == "word" and text in ("null", "true", "false"):
            return ("literal", {"null": None, "true": True, "false": False}[text])
        if kind == "word" and text in _FUNCTIONS and self._peek() == ("punct", "("):
            self._take()
            arguments = [] if self._peek() == ("punct", ")") else [self._or()]
            if self._take() != ("punct", ")"):
                raise unparseable_filter(f"{text}() takes at most one argument")
            return ("call", text, arguments)
        if kind == "word":
            name = text.removeprefix(_ROOT_PREFIX)
            if name not in self.fields:
                raise Problem(
                    "501.5",
                    f"The given OData filter expression references fields not supported by this server: {text}.",
                    {"field": text},
                )
            self.referenced.add(self.fields[name])
            return ("field", self.fields[name])
        raise unparseable_filter(f"unexpected {text!r}")


def evaluate(expression: Expr, submission: Submission, now: datetime) -> Any:
    """SQL's three-valued logic: comparisons with NULL are unknown (None), `eq null` means IS NULL."""
    kind = expression[0]
    if kind == "literal":
        return expression[1]
    if kind == "field":
        return submission.system(expression[1])
    if kind == "call":
        name, arguments = expression[1], expression[2]
        if name == "now":
            return now
        value = evaluate(arguments[0], submission, now) if arguments else None
        return getattr(value, name) if isinstance(value, datetime) else None
    if kind == "not":
        value = evaluate(expression[1], submission, now)
        return None if value is None else not value
    if kind in ("and", "or"):
        left, right = evaluate(expression[1], submission, now), evaluate(expression[2], submission, now)
        decisive = kind == "or"  # True decides an `or`, False decides an `and`
        if decisive in (left, right):
            return decisive
        return None if None in (left, right) else not decisive
    op, left_expression, right_expression = expression[1:]
    left, right = evaluate(left_expression, submission, now), evaluate(right_expression, submission, now)
    if ("literal", None) in (left_expression, right_expression) and op in ("eq", "ne"):
        return (left is None and right is None) == (op == "eq")
    if left is None or right is None:
        return None
    left, right = _comparable(left, right)
    try:
        return _COMPARISONS[op](left, right)
    except TypeError as error:
        raise unparseable_filter(f"cannot compare {left!r} with {right!r}") from error


def _comparable(left: Any, right: Any) -> tuple[Any, Any]:
    """Postgres-like implicit casts: text against a timestamp or an integer column."""
    if isinstance(left, datetime) and isinstance(right, str):
        return left, parse_moment(right)
    if isinstance(right, datetime) and isinstance(left, str):
        return parse_moment(left), right
    if isinstance(left, int) and isinstance(right, str) and right.lstrip("-").isdigit():
        return left, int(right)
    if isinstance(right, int) and isinstance(left, str) and left.lstrip("-").isdigit():
        return int(left), right
    return left, right


def parse_orderby(text: str, fields: Mapping[str, str]) -> list[tuple[str, bool]]:
    """`$orderby` → [(Submission.system key, descending)]."""
    keys = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise unparseable_filter(f"bad $orderby {text!r}")
        name = words[0].removeprefix(_ROOT_PREFIX)
        if name not in fields:
            raise Problem("501.5", f"The given OData orderby references fields not supported: {words[0]}.")
        keys.append((fields[name], len(words) == 2 and words[1] == "desc"))
    return keys


# ---------------------------------------------------------------------------------------------------------------
# Rows: a submission as Central's OData shows it
# ---------------------------------------------------------------------------------------------------------------


def coerce(value: Any, kind: str, wkt: bool) -> Any:
    """Answers as OData types them: ints and decimals as numbers, geopoints as GeoJSON (or WKT), text as text."""
    if value is None or value == "":
        return None
    if kind == "int":
        return int(value)
    if kind == "decimal":
        return float(value)
    if kind == "geopoint":
        lat, lon, *rest = (float(part) for part in str(value).split())
        altitude, accuracy = [*rest, 0.0, 0.0][:2]
        if wkt:
            return f"POINT ({lon:g} {lat:g} {altitude:g})"
        return {"type": "Point", "coordinates": [lon, lat, altitude], "properties": {"accuracy": accuracy}}
    return str(value)


def repeat_row_id(root_id: str, node: Node, parent_id: str, index: int) -> str:
    """A stable join id for one repeat instance (Central hashes its position the same way)."""
    return hashlib.sha1(f"{root_id}|{'/'.join(node.path)}|{parent_id}|{index}".encode()).hexdigest()


def parent_key(node: Node, nodes: Sequence[Node]) -> str:
    """`__Submissions-id`, or `__Submissions-<outer repeat path>-id` for a repeat inside a repeat."""
    outer = [n for n in walk(nodes) if n.kind == "repeat" and node.path[: len(n.path)] == n.path and n != node]
    return "__Submissions-" + ("-".join(outer[-1].path) + "-" if outer else "") + "id"


@dataclass(frozen=True)
class RowStyle:
    expand: bool
    wkt: bool


def render_fields(
    nodes: Sequence[Node], data: Mapping[str, Any], style: RowStyle, root_id: str, row_id: str
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for node in nodes:
        value = data.get(node.name)
        if node.kind == "group":
            out[node.name] = render_fields(
                node.children, value if isinstance(value, Mapping) else {}, style, root_id, row_id
            )
        elif node.kind == "repeat":
            if style.expand:
                items = value if isinstance(value, list) else []
                out[node.name] = [
                    {
                        "__id": (child := repeat_row_id(root_id, node, row_id, i)),
                        **render_fields(node.children, item, style, root_id, child),
                    }
                    for i, item in enumerate(items)
                ]
            else:
                out[f"{node.name}@odata.navigationLink"] = f"Submissions('{root_id}')/{'/'.join(node.path)}"
        elif node.name in data:
            out[node.name] = coerce(value, node.type, style.wkt)
    return out


def submission_answers(submission: Submission) -> dict[str, Any]:
    """The current version's answers with `meta` as Central reads it from the XML."""
    answers = dict(submission.current.answers)
    meta = dict(answers.get("meta") or {})
    meta["instanceID"] = submission.current.instance_id
    if len(submission.versions) > 1:
        meta["deprecatedID"] = submission.versions[-2].instance_id
    answers["meta"] = meta
    return answers


def repeat_instances(
    nodes: Sequence[Node], data: Mapping[str, Any], root_id: str, row_id: str
) -> Iterator[tuple[Node, str, str, Mapping[str, Any]]]:
    """Every repeat instance at any depth: (repeat node, its row id, its parent's row id, its answers)."""
    for node in nodes:
        value = data.get(node.name)
        if node.kind == "group" and isinstance(value, Mapping):
            yield from repeat_instances(node.children, value, root_id, row_id)
        elif node.kind == "repeat" and isinstance(value, list):
            for index, item in enumerate(value):
                child = repeat_row_id(root_id, node, row_id, index)
                yield node, child, row_id, item
                yield from repeat_instances(node.children, item, root_id, child)


def project(row: Mapping[str, Any], selected: set[tuple[str, ...]], prefix: tuple[str, ...] = ()) -> dict[str, Any]:
    """The row cut down to the selected paths (and the groups above them), in the row's own order."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        path = (*prefix, key)
        if path in selected:
            out[key] = value
        elif isinstance(value, Mapping) and any(s[: len(path)] == path for s in selected):
            out[key] = project(value, selected, path)
    return out


SINGLE_ROW = re.compile(
    r"^/v1/projects/(\d+)/forms/([a-z0-9-_]+).svc/Submissions\((?:'|%27)((?:uuid:)?[a-z0-9-]+)(?:'|%27)\)(/.*)*$",
    re.IGNORECASE,
)
"""Central's single-row OData route (`lib/resources/odata.js` `singleRowRegex`), matched on the RAW path: a key
with any other character (apostrophe, space, brackets, Arabic, a percent-encoded `:`…) or a form id outside
`[a-z0-9-_]` never reaches it and ends in the generic 404.1. The `i` flag is Central's own."""


def single_row_key(raw_path: str) -> str | None:
    """The instance id a `Submissions('…')` path addresses, or None where Central's route does not match."""
    match = SINGLE_ROW.match(raw_path)
    return match.group(3) if match else None


def encode_skiptoken(instance_id: str) -> str:
    return "01" + base64.b64encode(json.dumps({"instanceId": instance_id}).encode()).decode()


def decode_skiptoken(token: str) -> str:
    try:
        if not token.startswith("01"):
            raise ValueError("unknown skiptoken version")
        return str(json.loads(base64.b64decode(token[2:]))["instanceId"])
    except (ValueError, KeyError, TypeError) as error:
        raise unexpected_value("$skiptoken", token, "expected a token from a previous nextLink") from error


def node_escape(text: str) -> str:
    """Node's `querystring.escape`: what Central's links encode (so `$top` is written `%24top`)."""
    return quote(text, safe="-_.!~*'()")


# ---------------------------------------------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Fault:
    """Answer `status` instead of the real response, every Nth matching request or for the next K of them."""

    status: int = 503
    retry_after: str | None = None
    every: int | None = None
    remaining: int | None = None
    match: re.Pattern[str] | None = None  # against "METHOD /path"
    processed: bool = False  # the request takes effect, then the gateway fails (a 504 after the fact)
    seen: int = 0

    def fires(self, request_line: str) -> bool:
        if self.match is not None and not self.match.search(request_line):
            return False
        self.seen += 1
        if self.every is not None:
            return self.seen % self.every == 0
        if self.remaining:
            self.remaining -= 1
            return True
        return False

    def response(self) -> Response:
        headers = {"Retry-After": self.retry_after} if self.retry_after is not None else {}
        text = f"<html><body><h1>{self.status}</h1>injected by the fake Central</body></html>"
        return Response(text, status_code=self.status, media_type="text/html", headers=headers)


@dataclass(frozen=True)
class Logged:
    method: str
    path: str
    query: str


# ---------------------------------------------------------------------------------------------------------------
# The harness
# ---------------------------------------------------------------------------------------------------------------


class CentralFake:
    """State of one fake Central server, its FastAPI `app`, and the switches tests pull.

    Thread-safe: the app runs in the server's thread, the harness in the test's; both go through `lock`.
    """

    def __init__(self, version: str = "2026.2", *, clock: Clock | None = None) -> None:
        if version not in VERSIONS:
            raise ValueError(f"version must be one of {VERSIONS}")
        self.version = version
        self.clock = clock or Clock()
        self.lock = threading.RLock()
        self.actors: dict[int, Actor] = {}
        self.sessions: dict[str, Session] = {}
        self.projects: dict[int, str] = {}
        self.forms: dict[tuple[int, str], Form] = {}
        self.trash: list[Form] = []  # deleted forms (Central purges them after 30 days)
        self._ids = iter(range(1, 1_000_000))
        self._seq = iter(range(1, 100_000_000))
        self._collector: int | None = None
        # observation
        self.requests: list[Logged] = []
        self.logins = 0
        self.injected = 0
        self.odata_requests = 0
        # switches
        self.faults: list[Fault] = []
        self.delay = 0.0
        self.delay_match: re.Pattern[str] | None = None
        self.malformed_at: dict[int, str] = {}
        self.odd_system: dict[str, dict[str, Any]] = {}
        """instance id → `__system` values served as given instead of the real ones (a time that is no time)."""
        self.between_pages: Callable[[int], object] | None = None
        self.public_url: str | None = None  # the domain Central writes into its links (its configured `env.domain`)
        self.app = build_app(self)

    @property
    def has_deleted_at(self) -> bool:
        return self.version >= "2024.3"

    # -- people and projects ----------------------------------------------------------------------------

    def add_user(self, email: str, password: str, display_name: str = "") -> int:
        with self.lock:
            actor = Actor(
                next(self._ids), "user", display_name or email.split("@")[0], self.clock.stamp(), email, password
            )
            self.actors[actor.id] = actor
            return actor.id

    def add_project(self, name: str = "Default project") -> int:
        with self.lock:
            project_id = next(self._ids)
            self.projects[project_id] = name
            return project_id

    def add_app_user(self, project_id: int, display_name: str) -> Actor:
        with self.lock:
            self._project(project_id)
            actor = Actor(
                next(self._ids), "field_key", display_name, self.clock.stamp(), project_id=project_id, token=_token()
            )
            self.actors[actor.id] = actor
            return actor

    def expire_sessions(self) -> None:
        """Every session ends now, as after 24 h or a revocation: the next request with its token gets 401.2."""
        with self.lock:
            for session in self.sessions.values():
                session.ended = True

    # -- forms ------------------------------------------------------------------------------------------

    def add_form(self, project_id: int, xform_xml: bytes, *, publish: bool = True) -> Form:
        """A form straight from XML (published unless `publish=False`), as `POST …/forms?publish=true` does."""
        with self.lock:
            return self.create_form(project_id, Definition.from_xml(xform_xml), publish=publish)

    def form(self, project_id: int, form_id: str) -> Form:
        with self.lock:
            self._project(project_id)
            form = self.forms.get((project_id, form_id))
            if form is None:
                raise not_found()
            return form

    def create_form(self, project_id: int, definition: Definition, *, publish: bool) -> Form:
        with self.lock:
            self._project(project_id)
            if (project_id, definition.xml_form_id) in self.forms:
                raise already_exists("projectId,xmlFormId", f"{project_id},{definition.xml_form_id}")
            form = Form(project_id, definition.xml_form_id, self.clock.stamp(), draft=definition, draft_token=_token())
            self.forms[(project_id, definition.xml_form_id)] = form
            if publish:
                self.publish(form, None)
            return form

    def delete_form(self, project_id: int, form_id: str) -> None:
        """`DELETE …/forms/{id}`: the form goes to the trash; its id is free for a new form, GETs answer 404.1."""
        with self.lock:
            self.trash.append(self.forms.pop((project_id, self.form(project_id, form_id).xml_form_id)))

    def replace_draft(self, form: Form, definition: Definition | None) -> None:
        """A new draft from XML, or a copy of the published version (`None`); media carried over by name."""
        with self.lock:
            if definition is None:
                if form.current is None:
                    raise not_found()
                definition = Definition.from_xml(form.current.xml)
            elif definition.xml_form_id != form.xml_form_id:
                raise unexpected_value("xmlFormId", definition.xml_form_id, f"expected '{form.xml_form_id}'")
            sources = [d for d in (form.draft, form.current) if d is not None]
            for name, attachment in definition.attachments.items():
                previous = next((d.attachments[name] for d in sources if name in d.attachments), None)
                if previous is not None and previous.content is not None:
                    attachment.content, attachment.content_type = previous.content, previous.content_type
                    attachment.updated_at = previous.updated_at
            form.draft = definition
            form.draft_token = form.draft_token or _token()
            form.updated_at = self.clock.stamp()

    def publish(self, form: Form, version: str | None) -> None:
        with self.lock:
            draft = form.draft
            if draft is None:
                raise not_found()
            target = draft.version if version is None else version
            if any(d.version == target for d in form.published):  # refused in one transaction: the draft stays as is
                raise Problem(
                    "409.6",
                    f"You tried to publish the form '{form.xml_form_id}' with version '{target}', but a "
                    "published form has already existed in this project with those identifiers. Please choose a "
                    "new name and try again. You can re-request with ?version=xyz to have the version changed "
                    "in-place for you.",
                    {"xmlFormId": form.xml_form_id, "version": target},
                )
            draft.version = target
            draft.published_at = self.clock.stamp()
            form.published.insert(0, draft)
            form.draft, form.draft_token, form.updated_at = None, None, draft.published_at

    # -- submissions ------------------------------------------------------------------------------------

    def add_submission(
        self,
        project_id: int,
        form_id: str,
        answers: Mapping[str, Any],
        *,
        instance_id: str | None = None,
        submission_date: datetime | None = None,
        repeats: Mapping[str, list[Mapping[str, Any]]] | None = None,
        submitter_id: int | None = None,
        device_id: str | None = None,
        form_version: str | None = None,
    ) -> dict[str, Any]:
        """A new submission (as if sent from Collect); returns its OData row with repeats expanded.

        :param repeats: repeat path (`people` or `group/people`) → list of answer dicts, merged into `answers`.
        """
        with self.lock:
            form = self.form(project_id, form_id)
            if form.current is None:
                raise ValueError(f"form {form_id!r} has no published version to submit to")
            instance_id = instance_id or f"uuid:{uuid.uuid4()}"
            if instance_id in form.submissions:
                raise already_exists("xmlFormId,instanceId", f"{form_id},{instance_id}")
            created = submission_date or self.clock.stamp()
            data = _merge_repeats(answers, repeats)
            submission = Submission(
                seq=next(self._seq),
                instance_id=instance_id,
                versions=[Version(instance_id, data, created)],
                created_at=created,
                submitter_id=self._collector_id() if submitter_id is None else submitter_id,
                form_version=form_version if form_version is not None else form.current.version,
                device_id=device_id,
            )
            form.submissions[instance_id] = submission
            return self.row(form, submission)

    def edit_submission(
        self,
        project_id: int,
        form_id: str,
        instance_id: str,
        answers: Mapping[str, Any],
        *,
        new_instance_id: str | None = None,
        repeats: Mapping[str, list[Mapping[str, Any]]] | None = None,
    ) -> dict[str, Any]:
        """A new version with complete answers: new `meta/instanceID`, `deprecatedID`, edits + 1, state `edited`."""
        with self.lock:
            form = self.form(project_id, form_id)
            submission = self._submission(form, instance_id)
            now = self.clock.stamp()
            version = Version(new_instance_id or f"uuid:{uuid.uuid4()}", _merge_repeats(answers, repeats), now)
            submission.versions.append(version)
            submission.updated_at, submission.review_state = now, "edited"
            return self.row(form, submission)

    def set_review_state(self, project_id: int, form_id: str, instance_id: str, state: str | None) -> dict[str, Any]:
        """`PATCH …/submissions/{id}` `{"reviewState"}`: bumps `updatedAt`."""
        if state not in (None, "hasIssues", "edited", "rejected", "approved"):
            raise unexpected_value("reviewState", state, "expected null, hasIssues, edited, rejected or approved")
        with self.lock:
            form = self.form(project_id, form_id)
            submission = self._submission(form, instance_id)
            submission.review_state, submission.updated_at = state, self.clock.stamp()
            return self.row(form, submission)

    def delete_submission(self, project_id: int, form_id: str, instance_id: str) -> None:
        """Soft delete: `deletedAt` set, `updatedAt` untouched; gone from OData unless `deletedAt` is filtered on."""
        with self.lock:
            self._submission(self.form(project_id, form_id), instance_id).deleted_at = self.clock.stamp()

    def restore_submission(self, project_id: int, form_id: str, instance_id: str) -> None:
        """Undelete: `deletedAt` back to null WITHOUT touching `updatedAt`, so no cursor filter sees it."""
        with self.lock:
            form = self.form(project_id, form_id)
            submission = form.submissions.get(instance_id)
            if submission is None or submission.deleted_at is None:
                raise not_found()
            submission.deleted_at = None

    def purge_submission(self, project_id: int, form_id: str, instance_id: str) -> None:
        """What Central does 30 days after a delete (or on `POST /v1/submissions/purge`): the row is gone for good."""
        with self.lock:
            form = self.form(project_id, form_id)
            if form.submissions.get(instance_id, None) is None:
                raise not_found()
            del form.submissions[instance_id]

    def submission_json(self, submission: Submission) -> dict[str, Any]:
        """REST `Submission` (`GET …/submissions/{instanceId}`): metadata only, no answers."""
        current = submission.current
        return {
            "instanceId": submission.instance_id,
            "submitterId": submission.submitter_id,
            "deviceId": submission.device_id,
            "userAgent": None,
            "reviewState": submission.review_state,
            "createdAt": iso(submission.created_at),
            "updatedAt": iso(submission.updated_at),
            "deletedAt": iso(submission.deleted_at),
            "currentVersion": {
                "instanceId": current.instance_id,
                "instanceName": None,
                "submitterId": submission.submitter_id,
                "deviceId": submission.device_id,
                "userAgent": None,
                "createdAt": iso(current.created_at),
                "current": True,
            },
        }

    def submission(self, project_id: int, form_id: str, instance_id: str) -> Submission:
        with self.lock:
            return self._submission(self.form(project_id, form_id), instance_id, deleted=True)

    # -- fault switches ---------------------------------------------------------------------------------

    def fail_every(
        self, n: int, status: int = 503, *, retry_after: str | None = None, match: str | None = None
    ) -> Fault:
        """Answer `status` to every Nth request (matching `match`, a regex on "METHOD /path", if given)."""
        return self._add_fault(Fault(status, retry_after, every=n, match=_pattern(match)))

    def fail_next(
        self,
        k: int = 1,
        status: int = 503,
        *,
        retry_after: str | None = None,
        match: str | None = None,
        processed: bool = False,
    ) -> Fault:
        """Answer `status` to the next K (matching) requests; `processed=True` lets each take effect first."""
        return self._add_fault(Fault(status, retry_after, remaining=k, match=_pattern(match), processed=processed))

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def slow(self, seconds: float, match: str | None = None) -> None:
        """Delay every (matching) response by `seconds`, to trip read timeouts."""
        with self.lock:
            self.delay, self.delay_match = seconds, _pattern(match)

    def malformed_odata(self, nth: int, kind: str = "missing-id") -> None:
        """Break the body of the Nth OData data request: `missing-id`, `not-json` or `no-value`."""
        if kind not in ("missing-id", "not-json", "no-value"):
            raise ValueError(kind)
        with self.lock:
            self.malformed_at[nth] = kind

    # -- rendering (used by the routes) -------------------------------------------------------------------

    def row(
        self, form: Form, submission: Submission, style: RowStyle = RowStyle(expand=True, wkt=False)
    ) -> dict[str, Any]:
        definition = form.current or form.draft
        assert definition is not None
        system = {
            "submissionDate": iso(submission.created_at),
            "updatedAt": iso(submission.updated_at),
            "submitterId": str(submission.submitter_id),
            "submitterName": self.actors[submission.submitter_id].display_name
            if submission.submitter_id in self.actors
            else None,
            "attachmentsPresent": 0,
            "attachmentsExpected": _binary_answers(definition.fields, submission.current.answers),
            "status": None,
            "reviewState": submission.review_state,
            "deviceId": submission.device_id,
            "edits": len(submission.versions) - 1,
            "formVersion": submission.form_version,
        }
        if self.has_deleted_at:
            system["deletedAt"] = iso(submission.deleted_at)
        system.update(self.odd_system.get(submission.instance_id, {}))
        fields = render_fields(
            definition.fields, submission_answers(submission), style, submission.instance_id, submission.instance_id
        )
        return {"__id": submission.instance_id, **fields, "__system": system}

    # -- internals --------------------------------------------------------------------------------------

    def _project(self, project_id: int) -> None:
        if project_id not in self.projects:
            raise not_found()

    def _submission(self, form: Form, instance_id: str, *, deleted: bool = False) -> Submission:
        submission = form.submissions.get(instance_id)
        if submission is None or (submission.deleted_at is not None and not deleted):
            raise not_found()
        return submission

    def _collector_id(self) -> int:
        """The App User that "sent" harness submissions unless a submitter is given."""
        if self._collector is None:
            actor = Actor(next(self._ids), "field_key", "Collect phone", self.clock.stamp(), token=_token())
            self.actors[actor.id] = actor
            self._collector = actor.id
        return self._collector

    def _add_fault(self, fault: Fault) -> Fault:
        with self.lock:
            self.faults.append(fault)
            return fault

    def authenticate(self, authorization: str, https: bool) -> Actor:
        with self.lock:
            scheme, _, credentials = authorization.partition(" ")
            if not authorization:
                raise auth_failed() if self.version >= "2026" else insufficient_rights()
            if scheme.lower() == "bearer":
                session = self.sessions.get(credentials)
                if session is None or session.ended or self.clock.now() >= session.expires_at:
                    raise auth_failed()
                return self.actors[session.actor_id]
            if scheme.lower() == "basic":
                if not https:
                    raise Problem("401.3", "This authentication method is only available over HTTPS.")
                email, _, password = base64.b64decode(credentials).decode().partition(":")
                return self.login(email, password)
            raise auth_failed()

    def login(self, email: str, password: str) -> Actor:
        with self.lock:
            actor = next((a for a in self.actors.values() if a.type == "user" and a.email == email), None)
            known = (actor.password or "").encode() if actor is not None else b""
            if actor is None or not password or not secrets.compare_digest(known, password.encode()):
                raise auth_failed()
            return actor

    def open_session(self, actor: Actor) -> Session:
        with self.lock:
            now = self.clock.stamp()
            session = Session(_token(), actor.id, now, now + SESSION_LIFETIME)
            self.sessions[session.token] = session
            return session


def _token() -> str:
    """Central's tokens: 64 characters, URL-safe but with `!` and `$` among them."""
    alphabet = string.ascii_letters + string.digits + "!$"
    return "".join(secrets.choice(alphabet) for _ in range(64))


def _pattern(match: str | None) -> re.Pattern[str] | None:
    return re.compile(match) if match else None


def _merge_repeats(answers: Mapping[str, Any], repeats: Mapping[str, list[Mapping[str, Any]]] | None) -> dict[str, Any]:
    data = json.loads(json.dumps(answers, default=str))  # a private deep copy
    for path, items in (repeats or {}).items():
        *groups, name = path.split("/")
        target = data
        for group in groups:
            target = target.setdefault(group, {})
        target[name] = [dict(item) for item in items]
    return data


def _binary_answers(nodes: Sequence[Node], data: Mapping[str, Any]) -> int:
    count = 0
    for node in nodes:
        value = data.get(node.name)
        if node.kind == "value" and node.type == "binary" and value:
            count += 1
        elif node.kind == "group" and isinstance(value, Mapping):
            count += _binary_answers(node.children, value)
        elif node.kind == "repeat" and isinstance(value, list):
            count += sum(_binary_answers(node.children, item) for item in value)
    return count


# ---------------------------------------------------------------------------------------------------------------
# OData documents
# ---------------------------------------------------------------------------------------------------------------

ODATA_KEYS = {"$top", "$skip", "$count", "$filter", "$orderby", "$select", "$expand", "$wkt", "$skiptoken"}


@dataclass
class ODataQuery:
    """The query options of one OData request, validated the way Central does before touching data."""

    pairs: list[tuple[str, str]]
    top: int | None
    skip: int
    count: bool
    expand: bool
    wkt: bool
    select: list[str] | None
    filter: Expr | None
    include_deleted: bool
    orderby: list[tuple[str, bool]]
    skiptoken: str | None

    @classmethod
    def parse(cls, raw_query: str, version: str) -> "ODataQuery":
        pairs = parse_qsl(raw_query, keep_blank_values=True)
        query = dict(pairs)
        for key in query:
            if key not in ODATA_KEYS:
                raise not_implemented(f"the query parameter '{key}'")
        if "$select" in query and "$expand" in query:
            raise Problem("501.11", "The given OData select property '$select' cannot be used together with $expand.")
        if query.get("$expand", "*") != "*":
            raise not_implemented("$expand other than *")
        fields = filterable_fields(version)
        expression, referenced = None, set()
        if query.get("$filter"):
            parser = FilterParser(query["$filter"], fields)
            expression, referenced = parser.parse(), parser.referenced
        if "$orderby" in query and "$skiptoken" in query:
            raise not_implemented("using $orderby and $skiptoken together")
        return cls(
            pairs=pairs,
            top=_int_option(query, "$top"),
            skip=_int_option(query, "$skip") or 0,
            count=query.get("$count") == "true",
            expand="$expand" in query,
            wkt=query.get("$wkt") == "true",
            select=[s.strip() for s in query["$select"].split(",")] if query.get("$select") else None,
            filter=expression,
            include_deleted="deletedAt" in referenced,  # `odataExcludeDeleted`: filtering on it lifts the default
            orderby=parse_orderby(query["$orderby"], fields) if query.get("$orderby") else [],
            skiptoken=query.get("$skiptoken"),
        )

    def link(self, base: str, raw_path: str, **replace: str | None) -> str:
        """This request's URL with some options replaced (None drops one), encoded as Central's Node does."""
        pairs = [(k, v) for k, v in self.pairs if k not in replace]
        pairs += [(k, v) for k, v in replace.items() if v is not None]
        return f"{base}{raw_path}?" + "&".join(f"{node_escape(k)}={node_escape(v)}" for k, v in pairs)


def _int_option(query: Mapping[str, str], key: str) -> int | None:
    if key not in query:
        return None
    try:
        return max(0, int(query[key]))
    except ValueError as error:
        raise unexpected_value(key, query[key], "expected an integer") from error


def select_paths(
    select: list[str], has_deleted_at: bool, table_nodes: Sequence[Node], *, root: bool
) -> set[tuple[str, ...]]:
    """`$select` items as row paths; unknown properties answer 400.23."""
    system_keys = {
        "submissionDate",
        "updatedAt",
        "submitterId",
        "submitterName",
        "attachmentsPresent",
        "attachmentsExpected",
        "status",
        "reviewState",
        "deviceId",
        "edits",
        "formVersion",
    }
    if has_deleted_at:
        system_keys.add("deletedAt")
    paths: set[tuple[str, ...]] = set()
    for item in select:
        parts = tuple(item.split("/"))
        if item == "__id" or (
            root and (item == "__system" or (parts[0] == "__system" and len(parts) == 2 and parts[1] in system_keys))
        ):
            paths.add(parts)
            continue
        if not root and item.startswith("__") and item.endswith("-id"):
            paths.add(parts)
            continue
        nodes, found = table_nodes, None
        for part in parts:
            found = next((n for n in nodes if n.name == part and n.kind != "repeat"), None)
            if found is None:
                break
            nodes = found.children
        if found is None:
            raise Problem("400.23", f"Could not find a property named '{item}'", {"property": item})
        paths.add(parts)
    return paths


def order(rows: list[Submission], keys: list[tuple[str, bool]]) -> None:
    """Central's default order (createdAt DESC, id DESC), or `$orderby` with Postgres' NULLS LAST/FIRST."""
    rows.sort(key=lambda s: (s.created_at, s.seq), reverse=True)
    for name, descending in reversed(keys):  # stable sorts, least significant key first
        present = sorted(
            (s for s in rows if s.system(name) is not None), key=lambda s: s.system(name), reverse=descending
        )
        missing = [s for s in rows if s.system(name) is None]
        rows[:] = missing + present if descending else present + missing


def odata_submissions(fake: CentralFake, form: Form, query: ODataQuery, base: str, raw_path: str) -> dict[str, Any]:
    """`….svc/Submissions`: filter, order, keyset cursor, `$skip`/`$top`, then the rows and the links."""
    definition = form.current
    assert definition is not None
    now = fake.clock.now()
    rows = [
        s
        for s in form.submissions.values()
        if (query.include_deleted or s.deleted_at is None)
        and (query.filter is None or evaluate(query.filter, s, now) is True)
    ]
    order(rows, query.orderby)
    total = len(rows)
    if query.skiptoken is not None:
        after = form.submissions.get(decode_skiptoken(query.skiptoken))
        if after is None:
            raise unexpected_value("$skiptoken", query.skiptoken, "the row it points to does not exist")
        rows = [s for s in rows if (s.created_at, s.seq) < (after.created_at, after.seq)]
    rows = rows[query.skip :]
    page = rows if query.top is None else rows[: query.top]
    remaining = len(rows) > len(page)
    style = RowStyle(expand=query.expand, wkt=query.wkt)
    values = [fake.row(form, s, style) for s in page]
    if query.select is not None:
        paths = select_paths(query.select, fake.has_deleted_at, definition.fields, root=True)
        values = [project(v, paths) for v in values]
    body: dict[str, Any] = {"value": values, "@odata.context": f"{base}{_service_root(raw_path)}/$metadata#Submissions"}
    link = None
    if page and remaining:
        link = query.link(base, raw_path, **{"$skip": None, "$skiptoken": encode_skiptoken(page[-1].instance_id)})
    elif fake.version < "2024.3" and (query.top == 0 or (query.top is None and query.skip)):
        # v2024.2 links on even when nothing remains ($top=0, $skip without $top) [live-24]
        link = query.link(base, raw_path, **{"$skip": str(query.skip + (query.top or 0))})
    if link:
        body["@odata.nextLink"] = link
    if query.count:
        body["@odata.count"] = total
    return body


def odata_repeat_table(
    fake: CentralFake, form: Form, table: str, query: ODataQuery, base: str, raw_path: str
) -> dict[str, Any]:
    """`….svc/Submissions.<repeat>`: rows of all visible submissions, offset paging (`$skip` links)."""
    definition = form.current
    assert definition is not None
    target = next(
        (n for n in walk(definition.fields) if n.kind == "repeat" and "Submissions." + ".".join(n.path) == table), None
    )
    if target is None:
        raise not_found()
    if query.orderby or query.skiptoken:
        raise not_implemented("$orderby and $skiptoken on repeat tables")
    now = fake.clock.now()
    style = RowStyle(expand=query.expand, wkt=query.wkt)
    key = parent_key(target, definition.fields)
    rows = []
    for s in sorted(form.submissions.values(), key=lambda s: (s.created_at, s.seq), reverse=True):
        if (s.deleted_at is not None and not query.include_deleted) or (
            query.filter is not None and evaluate(query.filter, s, now) is not True
        ):
            continue
        for node, row_id, parent_id, item in repeat_instances(
            definition.fields, submission_answers(s), s.instance_id, s.instance_id
        ):
            if node == target:
                rows.append(
                    {"__id": row_id, key: parent_id, **render_fields(node.children, item, style, s.instance_id, row_id)}
                )
    total = len(rows)
    end = total if query.top is None else query.skip + query.top
    values = rows[query.skip : end]
    if query.select is not None:
        paths = select_paths(query.select, fake.has_deleted_at, target.children, root=False)
        values = [project(v, paths) for v in values]
    body: dict[str, Any] = {"value": values, "@odata.context": f"{base}{_service_root(raw_path)}/$metadata#{table}"}
    if end < total:
        body["@odata.nextLink"] = query.link(base, raw_path, **{"$skip": str(end)})
    if query.count:
        body["@odata.count"] = total
    return body


def _service_root(raw_path: str) -> str:
    return raw_path[: raw_path.index(".svc") + len(".svc")]


def break_body(body: dict[str, Any], kind: str) -> Response:
    """What a broken proxy or a bug might send instead of a page."""
    if kind == "not-json":
        return Response(json.dumps(body)[:40], media_type="application/json")
    if kind == "no-value":
        return JSONResponse({k: v for k, v in body.items() if k != "value"})
    rows = [dict(r) for r in body["value"]] or [{}]
    rows[0].pop("__id", None)
    return JSONResponse({**body, "value": rows})


# ---------------------------------------------------------------------------------------------------------------
# Routes
# ---------------------------------------------------------------------------------------------------------------


def form_json(form: Form, definition: Definition) -> dict[str, Any]:
    xml = definition.xml
    return {
        "projectId": form.project_id,
        "xmlFormId": form.xml_form_id,
        "state": "open",
        "enketoId": None,
        "name": definition.title or None,
        "version": definition.version,
        "hash": hashlib.md5(xml, usedforsecurity=False).hexdigest(),
        "sha": hashlib.sha1(xml, usedforsecurity=False).hexdigest(),
        "sha256": hashlib.sha256(xml).hexdigest(),
        "draftToken": form.draft_token if definition is form.draft else None,  # a published def has none
        "publishedAt": iso(definition.published_at),
        "createdAt": iso(form.created_at),
        "updatedAt": iso(form.updated_at),
        "keyId": None,
    }


def attachment_json(attachment: Attachment, with_hash: bool) -> dict[str, Any]:
    body = {
        "name": attachment.name,
        "type": attachment.type,
        "exists": attachment.content is not None,
        "blobExists": attachment.content is not None,
        "datasetExists": False,
        "updatedAt": iso(attachment.updated_at),
    }
    if with_hash:
        body["hash"] = attachment.hash
    return body


def build_app(fake: CentralFake) -> FastAPI:
    app = FastAPI(title="fake ODK Central", openapi_url=None, docs_url=None, redoc_url=None)

    @app.exception_handler(Problem)
    async def problem_handler(_: Request, problem: Problem) -> Response:
        return problem.response()

    @app.exception_handler(StarletteHTTPException)
    async def http_handler(_: Request, error: StarletteHTTPException) -> Response:
        if error.status_code in (404, 405):
            return not_found().response()
        return JSONResponse(
            {"message": str(error.detail), "code": float(error.status_code), "details": {}}, error.status_code
        )

    @app.exception_handler(RequestValidationError)
    async def validation_handler(_: Request, __: RequestValidationError) -> Response:
        return not_found().response()  # e.g. a non-numeric project id

    @app.middleware("http")
    async def record_and_inject(request: Request, call_next: Callable[[Request], Any]) -> Response:
        line = f"{request.method} {request.url.path}"
        with fake.lock:
            fake.requests.append(Logged(request.method, request.url.path, request.url.query))
            fault = next((f for f in fake.faults if f.fires(line)), None)
            if fault is not None:
                fake.injected += 1
            delay = fake.delay if fake.delay and (fake.delay_match is None or fake.delay_match.search(line)) else 0.0
        if delay:
            await asyncio.sleep(delay)
        if fault is not None and not fault.processed:
            return fault.response()
        response = await call_next(request)
        if fault is not None:
            async for _ in response.body_iterator:  # let the handler finish, then lose its answer
                pass
            return fault.response()
        return response

    async def actor(request: Request) -> Actor:
        https = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
        return fake.authenticate(request.headers.get("authorization", ""), https)

    Caller = Annotated[Actor, Depends(actor)]

    def base_of(request: Request) -> str:
        return fake.public_url or str(request.base_url).rstrip("/")

    def raw_path(request: Request) -> str:
        return request.scope.get("raw_path", request.url.path.encode()).decode()

    async def xml_body(request: Request) -> Definition:
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        if content_type not in ("application/xml", "text/xml"):
            raise Problem("501.3", "XLSForm conversion is not configured on this server (fake: send XForm XML).")
        return Definition.from_xml(await request.body())

    # -- sessions and users -------------------------------------------------------------------------------

    @app.post("/v1/sessions")
    async def login(request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError as error:
            raise Problem("400.1", "Could not parse the given data as json.") from error
        with fake.lock:
            fake.logins += 1
            user = fake.login(str(body.get("email", "")), str(body.get("password", "")))
            session = fake.open_session(user)
        return JSONResponse(
            {
                "token": session.token,
                "csrf": _token(),
                "expiresAt": iso(session.expires_at),
                "createdAt": iso(session.created_at),
            }
        )

    @app.delete("/v1/sessions/{token}")
    async def logout(token: str, request: Request, who: Caller) -> Response:
        with fake.lock:
            if token == "current":
                token = request.headers["authorization"].partition(" ")[2]
            session = fake.sessions.get(token)
            if session is None:
                raise not_found()
            session.ended = True
        return JSONResponse({"success": True})

    @app.get("/v1/users/current")
    async def current_user(who: Caller) -> Response:
        return JSONResponse(who.json())

    @app.get("/v1/roles")
    async def roles(who: Caller) -> Response:
        return JSONResponse([{**role, "verbs": [], "createdAt": None, "updatedAt": None} for role in ROLES])

    # -- projects and app users ---------------------------------------------------------------------------

    @app.get("/v1/projects")
    async def projects(who: Caller) -> Response:
        with fake.lock:
            return JSONResponse(
                [{"id": p, "name": n, "archived": None, "keyId": None} for p, n in fake.projects.items()]
            )

    @app.post("/v1/projects")
    async def create_project(request: Request, who: Caller) -> Response:
        name = (await request.json()).get("name")
        if not name:
            raise Problem("400.3", "Required parameters missing: name", {"missing": ["name"]})
        project_id = fake.add_project(name)
        return JSONResponse({"id": project_id, "name": name, "archived": None, "keyId": None, "description": None})

    @app.get("/v1/projects/{project_id}/app-users")
    async def app_users(project_id: int, who: Caller) -> Response:
        with fake.lock:
            fake._project(project_id)
            users = [a.json() for a in fake.actors.values() if a.type == "field_key" and a.project_id == project_id]
        return JSONResponse(users)

    @app.post("/v1/projects/{project_id}/app-users")
    async def create_app_user(project_id: int, request: Request, who: Caller) -> Response:
        name = (await request.json()).get("displayName")
        if not name:
            raise Problem("400.3", "Required parameters missing: displayName", {"missing": ["displayName"]})
        return JSONResponse(fake.add_app_user(project_id, name).json())

    # -- forms, drafts, attachments, publishing ----------------------------------------------------------

    @app.get("/v1/projects/{project_id}/forms")
    async def forms(project_id: int, who: Caller) -> Response:
        with fake.lock:
            fake._project(project_id)
            listed = [
                form_json(f, d) for (p, _), f in fake.forms.items() if p == project_id and (d := f.current or f.draft)
            ]
        return JSONResponse(listed)

    @app.post("/v1/projects/{project_id}/forms")
    async def create_form(project_id: int, request: Request, who: Caller) -> Response:
        definition = await xml_body(request)
        publish = request.query_params.get("publish") == "true"
        with fake.lock:
            form = fake.create_form(project_id, definition, publish=publish)
            return JSONResponse(form_json(form, definition))

    @app.get("/v1/projects/{project_id}/forms/{form_id}.svc")
    async def service_document(project_id: int, form_id: str, request: Request, who: Caller) -> Response:
        with fake.lock:
            definition = fake.form(project_id, form_id).current
            if definition is None:
                raise not_found()
            tables = ["Submissions", *definition.repeat_tables]
        return JSONResponse(
            {
                "@odata.context": f"{base_of(request)}{raw_path(request)}/$metadata",
                "value": [{"name": t, "kind": "EntitySet", "url": t} for t in tables],
            }
        )

    @app.get("/v1/projects/{project_id}/forms/{form_id}.svc/{table}")
    async def odata(project_id: int, form_id: str, table: str, request: Request, who: Caller) -> Response:
        base, path = base_of(request), raw_path(request)
        with fake.lock:
            if who.type == "field_key":
                raise insufficient_rights()
            form = fake.form(project_id, form_id)
            if form.current is None:
                raise not_found()
            query = ODataQuery.parse(request.url.query, fake.version)
            fake.odata_requests += 1
            number = fake.odata_requests
            if table.startswith("Submissions("):
                key = single_row_key(path)
                if key is None:  # Central's route refuses the key; its generic table route has no such table
                    raise not_found()
                submission = fake._submission(form, key)
                row = fake.row(form, submission, RowStyle(expand=query.expand, wkt=query.wkt))
                if query.select is not None:
                    row = project(row, select_paths(query.select, fake.has_deleted_at, form.current.fields, root=True))
                body = {"value": [row], "@odata.context": f"{base}{_service_root(path)}/$metadata#Submissions"}
            elif table == "Submissions":
                body = odata_submissions(fake, form, query, base, path)
            else:
                body = odata_repeat_table(fake, form, table, query, base, path)
            broken = fake.malformed_at.pop(number, None)
        if fake.between_pages is not None and table == "Submissions":
            fake.between_pages(number)
        return break_body(body, broken) if broken else JSONResponse(body)

    @app.get("/v1/projects/{project_id}/forms/{form_id}")
    async def get_form(project_id: int, form_id: str, who: Caller) -> Response:
        with fake.lock:
            form = fake.form(project_id, form_id)
            definition = form.current or form.draft
            assert definition is not None
            return JSONResponse(form_json(form, definition))

    @app.delete("/v1/projects/{project_id}/forms/{form_id}")
    async def delete_form(project_id: int, form_id: str, who: Caller) -> Response:
        fake.delete_form(project_id, form_id)
        return JSONResponse({"success": True})

    @app.get("/v1/projects/{project_id}/forms/{form_id}/versions")
    async def versions(project_id: int, form_id: str, who: Caller) -> Response:
        with fake.lock:
            form = fake.form(project_id, form_id)
            return JSONResponse([form_json(form, d) | {"draftToken": None} for d in form.published])

    @app.get("/v1/projects/{project_id}/forms/{form_id}/draft")
    async def get_draft(project_id: int, form_id: str, who: Caller) -> Response:
        with fake.lock:
            form = fake.form(project_id, form_id)
            if form.draft is None:
                raise not_found()
            return JSONResponse(form_json(form, form.draft))

    @app.post("/v1/projects/{project_id}/forms/{form_id}/draft")
    async def create_draft(project_id: int, form_id: str, request: Request, who: Caller) -> Response:
        empty = not request.headers.get("content-type") and not await request.body()
        definition = None if empty else await xml_body(request)
        with fake.lock:
            fake.replace_draft(fake.form(project_id, form_id), definition)
        return JSONResponse({"success": True})

    @app.delete("/v1/projects/{project_id}/forms/{form_id}/draft")
    async def delete_draft(project_id: int, form_id: str, who: Caller) -> Response:
        with fake.lock:
            form = fake.form(project_id, form_id)
            if form.draft is None or form.current is None:
                raise not_found()
            form.draft, form.draft_token = None, None
        return JSONResponse({"success": True})

    @app.post("/v1/projects/{project_id}/forms/{form_id}/draft/publish")
    async def publish(project_id: int, form_id: str, request: Request, who: Caller) -> Response:
        with fake.lock:
            fake.publish(fake.form(project_id, form_id), request.query_params.get("version"))
        return JSONResponse({"success": True})

    @app.get("/v1/projects/{project_id}/forms/{form_id}/draft/attachments")
    async def draft_attachments(project_id: int, form_id: str, who: Caller) -> Response:
        with fake.lock:
            draft = fake.form(project_id, form_id).draft
            if draft is None:
                raise not_found()
            return JSONResponse([attachment_json(a, fake.has_deleted_at) for a in draft.attachments.values()])

    @app.post("/v1/projects/{project_id}/forms/{form_id}/draft/attachments/{name}")
    async def upload_attachment(project_id: int, form_id: str, name: str, request: Request, who: Caller) -> Response:
        content = await request.body()
        with fake.lock:
            draft = fake.form(project_id, form_id).draft
            if draft is None or name not in draft.attachments:
                raise not_found()
            attachment = draft.attachments[name]
            attachment.content, attachment.content_type = content, request.headers.get("content-type")
            attachment.updated_at = fake.clock.stamp()
        return JSONResponse({"success": True})

    @app.get("/v1/projects/{project_id}/forms/{form_id}/attachments")
    async def attachments(project_id: int, form_id: str, who: Caller) -> Response:
        with fake.lock:
            current = fake.form(project_id, form_id).current
            if current is None:
                raise not_found()
            return JSONResponse([attachment_json(a, fake.has_deleted_at) for a in current.attachments.values()])

    # -- form assignments --------------------------------------------------------------------------------

    def role_of(role: str) -> int:
        found = next((r for r in ROLES if str(r["id"]) == role or r["system"] == role), None)
        if found is None:
            raise not_found()
        return int(found["id"])

    @app.get("/v1/projects/{project_id}/forms/{form_id}/assignments")
    async def assignments(project_id: int, form_id: str, who: Caller) -> Response:
        with fake.lock:
            form = fake.form(project_id, form_id)
            return JSONResponse([{"actorId": a, "roleId": r} for r, a in sorted(form.assignments)])

    @app.get("/v1/projects/{project_id}/forms/{form_id}/assignments/{role}")
    async def role_assignments(project_id: int, form_id: str, role: str, who: Caller) -> Response:
        with fake.lock:
            form, role_id = fake.form(project_id, form_id), role_of(role)
            return JSONResponse([fake.actors[a].json() for r, a in sorted(form.assignments) if r == role_id])

    @app.post("/v1/projects/{project_id}/forms/{form_id}/assignments/{role}/{actor_id}")
    async def assign(project_id: int, form_id: str, role: str, actor_id: int, who: Caller) -> Response:
        with fake.lock:
            form, role_id = fake.form(project_id, form_id), role_of(role)
            if actor_id not in fake.actors:
                raise not_found()
            if (role_id, actor_id) in form.assignments:
                raise already_exists("actorId,roleId,acteeId", f"{actor_id},{role_id},{form_id}")
            form.assignments.add((role_id, actor_id))
        return JSONResponse({"success": True})

    # -- submissions (REST) ------------------------------------------------------------------------------

    @app.patch("/v1/projects/{project_id}/forms/{form_id}/submissions/{instance_id}")
    async def review(project_id: int, form_id: str, instance_id: str, request: Request, who: Caller) -> Response:
        body = await request.json()
        fake.set_review_state(project_id, form_id, instance_id, body.get("reviewState"))
        return JSONResponse({"instanceId": instance_id, "reviewState": body.get("reviewState")})

    @app.delete("/v1/projects/{project_id}/forms/{form_id}/submissions/{instance_id}")
    async def delete_submission(project_id: int, form_id: str, instance_id: str, who: Caller) -> Response:
        fake.delete_submission(project_id, form_id, instance_id)
        return JSONResponse({"success": True})

    @app.post("/v1/projects/{project_id}/forms/{form_id}/submissions/{instance_id}/restore")
    async def restore_submission(project_id: int, form_id: str, instance_id: str, who: Caller) -> Response:
        fake.restore_submission(project_id, form_id, instance_id)
        return JSONResponse({"success": True})

    @app.get("/v1/projects/{project_id}/forms/{form_id}/submissions/{instance_id}")
    async def get_submission(project_id: int, form_id: str, instance_id: str, who: Caller) -> Response:
        """Any instance id (Express decodes the segment); deleted or purged → 404.1; a later version's id → 301."""
        with fake.lock:
            if who.type == "field_key":
                raise insufficient_rights()
            form = fake.form(project_id, form_id)
            submission = form.submissions.get(instance_id)
            if submission is None:
                root = next(
                    (s for s in form.submissions.values() if any(v.instance_id == instance_id for v in s.versions)),
                    None,
                )
                if root is not None and root.deleted_at is None:
                    location = f"/v1/projects/{project_id}/forms/{quote(form_id, safe='')}/submissions/"
                    location += quote(root.instance_id, safe="")
                    return Response(status_code=301, headers={"Location": f"{location}/versions/{quote(instance_id)}"})
            submission = fake._submission(form, instance_id)
            return JSONResponse(fake.submission_json(submission))

    return app
