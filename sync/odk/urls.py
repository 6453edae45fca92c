"""Every Central path the client uses, in one place, with each field percent-encoded on its own.

Central decodes path segments like JavaScript's `decodeURIComponent` (RFC 2396), so, as pyodk does, each field is
quoted with `quote(safe="*'()")`: a form id holding `/`, `?`, `#` or a space stays one segment, and the four
characters RFC 3986 reserves but RFC 2396 does not are left alone.
"""

from urllib.parse import quote

SESSIONS = "/v1/sessions"
CURRENT_SESSION = "/v1/sessions/current"
ROLES = "/v1/roles"
FORMS = "/v1/projects/{project_id}/forms"
FORM = "/v1/projects/{project_id}/forms/{form_id}"
DRAFT = "/v1/projects/{project_id}/forms/{form_id}/draft"
VERSIONS = "/v1/projects/{project_id}/forms/{form_id}/versions"
DRAFT_ATTACHMENTS = "/v1/projects/{project_id}/forms/{form_id}/draft/attachments"
DRAFT_ATTACHMENT = "/v1/projects/{project_id}/forms/{form_id}/draft/attachments/{name}"
DRAFT_PUBLISH = "/v1/projects/{project_id}/forms/{form_id}/draft/publish"
FORM_ROLE_ASSIGNMENTS = "/v1/projects/{project_id}/forms/{form_id}/assignments/{role_id}"
FORM_ROLE_ASSIGNMENT = "/v1/projects/{project_id}/forms/{form_id}/assignments/{role_id}/{actor_id}"
APP_USERS = "/v1/projects/{project_id}/app-users"
ODATA_TABLE = "/v1/projects/{project_id}/forms/{form_id}.svc/{table}"
SUBMISSION = "/v1/projects/{project_id}/forms/{form_id}/submissions/{instance_id}"
"""The REST submission: it answers for ANY instance id. The single-row OData `Submissions('…')` is not used: its
route matches only keys of `(uuid:)?[a-z0-9-]` (raw, so not even a percent-encoded `:`) and a form id of
`[a-z0-9-_]`, and answers 404.1 for everything else."""


def odata_string(value: str) -> str:
    """An OData string literal: single quotes around, a quote inside doubled (`'it''s'`)."""
    return "'" + value.replace("'", "''") + "'"


def quote_field(value: object) -> str:
    """One path field, encoded the way Central decodes it."""
    return quote(str(value), safe="*'()")


def path(template: str, **fields: object) -> str:
    """A path from a template above, every field quoted separately (never the template's own slashes)."""
    return template.format(**{name: quote_field(value) for name, value in fields.items()})
