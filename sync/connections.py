"""Connections to Kobo and ODK Central accounts, and the secrets they need.

A secret is read from an environment variable at run time (the default), or, when a person typed it in, kept
encrypted with SERA_SECRET_KEY (Fernet). It is never stored in clear, printed or logged.
"""

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from sqlmodel import Session, col, select

from sync.tables import Connection, RemoteForm

DEMO_PLATFORM = "demo"
"""Synthetic data written by `sera demo` (analysis.demo): a connection that is never synced."""
PLATFORMS = ("kobo", "odk", DEMO_PLATFORM)
DEFAULT_SECRET_ENV = {"kobo": "SERA_KOBO_TOKEN", "odk": "SERA_ODK_PASSWORD"}


class ConnectionProblem(Exception):
    """A connection that cannot be added or used, with what to do about it."""


@dataclass(frozen=True)
class ConnectionSpec:
    name: str
    platform: str
    url: str
    project_id: int | None = None
    email: str | None = None
    secret_env: str | None = None


def _fernet(secret_key: str) -> Fernet:
    """A Fernet key derived from the operator's SERA_SECRET_KEY (any length)."""
    digest = hashlib.sha256(secret_key.encode("utf-8")).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt_secret(secret: str, secret_key: str) -> str:
    if not secret_key:
        raise ConnectionProblem(
            "set SERA_SECRET_KEY to keep a typed-in secret, or pass it through an environment variable"
        )
    return _fernet(secret_key).encrypt(secret.encode("utf-8")).decode("ascii")


def demo_present(session: Session) -> bool:
    """Whether `sera demo` data is in the store: every figure computed now rests on synthetic submissions."""
    return session.exec(select(Connection.id).where(Connection.platform == DEMO_PLATFORM).limit(1)).first() is not None


def real_connections(session: Session) -> list[str]:
    """Names of the connections to real servers (Kobo, ODK Central): what demo data must never be mixed with."""
    query = select(Connection.name).where(Connection.platform != DEMO_PLATFORM).order_by(col(Connection.name))
    return list(session.exec(query))


def add_connection(session: Session, spec: ConnectionSpec, *, encrypted_secret: str | None = None) -> Connection:
    """Record a connection; its name is what the CLI and the API refer to.

    A real connection is refused while demo data is loaded: values, reports and the API count every stored
    submission, so the first sync would add real people to synthetic ones. Refusing (rather than deleting the
    demo data here) leaves the choice, and the moment, to the person: `sera demo clear`, then add it again.
    """
    if spec.platform not in PLATFORMS:
        raise ConnectionProblem(f"unknown platform '{spec.platform}': use kobo or odk")
    if spec.platform != DEMO_PLATFORM and demo_present(session):
        raise ConnectionProblem(
            f"demo data is loaded, and its synthetic submissions would be counted with those of '{spec.name}': "
            "run `sera demo clear` first (it removes only the demo data), then add the connection"
        )
    if session.exec(select(Connection).where(Connection.name == spec.name)).first() is not None:
        raise ConnectionProblem(f"a connection named '{spec.name}' exists already")
    if spec.platform == "odk" and (spec.project_id is None or not spec.email):
        raise ConnectionProblem("an ODK Central connection needs --project and --email")
    connection = Connection(
        name=spec.name,
        platform=spec.platform,
        url=spec.url.rstrip("/"),
        project_id=spec.project_id,
        email=spec.email,
        secret_env=None if encrypted_secret else (spec.secret_env or DEFAULT_SECRET_ENV.get(spec.platform)),
        secret_encrypted=encrypted_secret,
    )
    session.add(connection)
    session.flush()
    return connection


def get_connection(session: Session, name: str) -> Connection:
    connection = session.exec(select(Connection).where(Connection.name == name)).first()
    if connection is None:
        known = ", ".join(c.name for c in session.exec(select(Connection).order_by(col(Connection.name)))) or "none"
        raise ConnectionProblem(f"no connection named '{name}' (known: {known}); add one with `sera connections add`")
    return connection


def list_connections(session: Session) -> list[Connection]:
    return list(session.exec(select(Connection).order_by(col(Connection.name))))


def resolve_secret(connection: Connection, secret_key: str) -> str:
    """The token or password of a connection, from its environment variable or its encrypted copy."""
    if connection.secret_encrypted:
        if not secret_key:
            raise ConnectionProblem(f"connection '{connection.name}' keeps an encrypted secret: set SERA_SECRET_KEY")
        try:
            return _fernet(secret_key).decrypt(connection.secret_encrypted.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise ConnectionProblem(
                f"connection '{connection.name}': SERA_SECRET_KEY does not decrypt its secret (was the key changed?)"
            ) from None
    variable = connection.secret_env or DEFAULT_SECRET_ENV[connection.platform]
    value = os.environ.get(variable, "")
    if not value:
        what = "API token" if connection.platform == "kobo" else "password"
        raise ConnectionProblem(
            f"connection '{connection.name}': set the {what} in the environment variable {variable}"
        )
    return value


def set_hook_secret(connection: Connection, secret: str) -> None:
    """Keep only a hash of the webhook's shared secret."""
    connection.hook_secret_hash = hashlib.sha256(secret.encode("utf-8")).hexdigest()


def hook_secret_matches(connection: Connection, presented: str | None) -> bool:
    if not connection.hook_secret_hash or not presented:
        return False
    digest = hashlib.sha256(presented.encode("utf-8")).hexdigest()
    return hmac.compare_digest(digest, connection.hook_secret_hash)


def link_form(session: Session, connection: Connection, form_id: str, remote_id: str) -> RemoteForm:
    """Tie a catalogue form to a form that already exists on the server (deploy does this for its own)."""
    assert connection.id is not None
    query = select(RemoteForm).where(RemoteForm.connection_id == connection.id, RemoteForm.form_id == form_id)
    remote = session.exec(query).first()
    if remote is None:
        remote = RemoteForm(connection_id=connection.id, form_id=form_id, remote_id=remote_id)
    elif remote.remote_id != remote_id:
        raise ConnectionProblem(
            f"form '{form_id}' is already linked to '{remote.remote_id}' on '{connection.name}'; "
            "its submissions are keyed to that remote form"
        )
    session.add(remote)
    session.flush()
    return remote
