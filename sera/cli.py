"""The `sera` command line: the SERA officer's and the operator's entry point."""

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine
from sqlmodel import Session

from catalogue.model import Catalogue
from catalogue.store import LoadReport, NoCatalogue, RevisionRequired, load_catalogue, stored_catalogue
from catalogue.validation import CatalogueInvalid, read_catalogue
from sera.db import make_engine, session_scope
from sera.logs import configure_logging, get_logger
from sera.settings import Settings, get_settings

app = typer.Typer(
    help="SERA data backend: indicator catalogue, forms, sync, indicators and reports.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
catalogue_app = typer.Typer(help="The indicator catalogue: validate, load, export.", no_args_is_help=True)
connections_app = typer.Typer(help="Kobo and ODK Central accounts.", no_args_is_help=True)
forms_app = typer.Typer(help="Data collection forms: build, diff, deploy, link.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(catalogue_app, name="catalogue")
app.add_typer(connections_app, name="connections")
app.add_typer(forms_app, name="forms")
tokens_app = typer.Typer(help="API tokens: create, list, revoke.", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")

log = get_logger("sera.cli")

CataloguePath = Annotated[
    Path | None, typer.Argument(help="Catalogue YAML file; defaults to SERA_CATALOGUE (the shipped PRIM 2 catalogue).")
]


def _settings() -> Settings:
    settings = get_settings()
    configure_logging(settings.log_level)
    return settings


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


@contextmanager
def _engine(settings: Settings) -> Iterator[Engine]:
    """An engine for one command, disposed when it ends."""
    engine = make_engine(settings.database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def _session(settings: Settings) -> Iterator[Session]:
    """One unit of work for a command: committed when the block ends, rolled back if it raises."""
    with _engine(settings) as engine, session_scope(engine) as session:
        yield session


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to the latest version."""
    from sera.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    typer.echo("database is up to date")


@catalogue_app.command("validate")
def catalogue_validate(path: CataloguePath = None) -> None:
    """Check a catalogue; prints one `PATH:LINE: message` line per error and exits 1 if there is any."""
    settings = _settings()
    try:
        read_catalogue(path or settings.catalogue)
    except CatalogueInvalid as invalid:
        for problem in invalid.problems:
            typer.echo(str(problem))
        raise _fail(f"{len(invalid.problems)} error(s)") from None
    typer.echo(f"{path or settings.catalogue}: valid", err=True)


def load_into_database(settings: Settings, path: Path) -> LoadReport:
    """Validate a catalogue and load it; shared by `catalogue load` and `serve`."""
    catalogue = read_catalogue(path)
    with _session(settings) as session:
        return load_catalogue(session, catalogue, source=str(path))


@catalogue_app.command("load")
def catalogue_load(path: CataloguePath = None) -> None:
    """Load a catalogue into the database: unchanged entities stay, changed ones get a new version."""
    settings = _settings()
    source = path or settings.catalogue
    try:
        report = load_into_database(settings, source)
    except CatalogueInvalid as invalid:
        for problem in invalid.problems:
            typer.echo(str(problem))
        raise _fail(f"{len(invalid.problems)} error(s); nothing was loaded") from None
    except RevisionRequired as refused:
        raise _fail(f"{refused}\nnothing was loaded") from None
    for change in report.changes:
        typer.echo(change)
    typer.echo(f"{len(report.changes)} version(s) written" if report.changed else "catalogue unchanged", err=True)


@catalogue_app.command("export")
def catalogue_export(
    out: Annotated[Path, typer.Option("--out", help="File to write.")],
    format: Annotated[str, typer.Option("--format", help="yaml (round-trips) or xlsx (logframe matrix).")] = "yaml",
) -> None:
    """Write the catalogue held in the database back out, as YAML or as a donor's logframe workbook."""
    from catalogue.export_xlsx import write_logframe
    from catalogue.export_yaml import write_yaml

    writers = {"yaml": write_yaml, "xlsx": write_logframe}
    if format not in writers:
        raise _fail(f"unknown format '{format}': use yaml or xlsx", 2)
    catalogue = _stored_catalogue(_settings())
    writers[format](catalogue, out)
    typer.echo(f"wrote {out}", err=True)


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    prepare: Annotated[bool, typer.Option(help="Upgrade the schema and load the catalogue first.")] = True,
    demo_if_empty: Annotated[
        bool,
        typer.Option(
            "--demo-if-empty", help="When no submission is stored at all, add the demo data and compute values first."
        ),
    ] = False,
) -> None:
    """Run the HTTP API (uvicorn), after bringing the schema and the catalogue up to date."""
    import uvicorn

    from api.app import create_app
    from sera.migrate import upgrade

    settings = _settings()
    if prepare:
        upgrade(settings.database_url)
        try:
            report = load_into_database(settings, settings.catalogue)
        except (CatalogueInvalid, RevisionRequired) as error:
            raise _fail(f"the catalogue {settings.catalogue} cannot be loaded:\n{error}") from None
        log.info("catalogue loaded", extra={"versions_written": len(report.changes)})
    if demo_if_empty:
        _demo_if_empty(settings)
    uvicorn.run(create_app(settings), host=host, port=port, log_level=settings.log_level.lower())


def _demo_if_empty(settings: Settings) -> None:
    """A newcomer's first run shows figures and a report: an empty store gets the demo data and its values."""
    from sqlmodel import select

    from analysis.compute import compute
    from analysis.demo import generate_demo
    from sync.connections import real_connections
    from sync.tables import Submission

    with _session(settings) as session:
        if session.exec(select(Submission.id).limit(1)).first() is not None:
            return
        if real := real_connections(session):
            # Not synced yet, but real: demo rows added now would be counted with the first sync's.
            log.info("no demo data added: real connections exist", extra={"connections": real})
            return
        catalogue = stored_catalogue(session)
        demo = generate_demo(session, catalogue)
        session.flush()
        compute(session, catalogue, person_key_secret=settings.person_key_secret.get_secret_value())
    log.info(
        "no submission was stored: demo data added (`sera demo clear` removes it)",
        extra={"submissions": demo.submissions},
    )


# --- connections and sync ----------------------------------------------------------------------------------


def _secret_for(platform: str, variable: str | None, settings: Settings) -> tuple[str | None, str | None]:
    """(env variable, encrypted secret): the variable when it is set, else a hidden prompt on a terminal."""
    from sync.connections import DEFAULT_SECRET_ENV, encrypt_secret

    name = variable or DEFAULT_SECRET_ENV[platform]
    if os.environ.get(name) or not sys.stdin.isatty():
        if not os.environ.get(name):
            typer.echo(
                f"note: {name} is not set here; set it wherever `sera sync` and `sera forms deploy` run", err=True
            )
        return name, None
    what = "API token" if platform == "kobo" else "password"
    secret = typer.prompt(f"{what} (input hidden; kept encrypted with SERA_SECRET_KEY)", hide_input=True)
    return None, encrypt_secret(secret, settings.secret_key.get_secret_value())


def _add_connection(spec_args: dict[str, object], platform: str, variable: str | None) -> None:
    from sync.connections import ConnectionProblem, ConnectionSpec, add_connection

    settings = _settings()
    try:
        secret_env, encrypted = _secret_for(platform, variable, settings)
        spec = ConnectionSpec(platform=platform, secret_env=secret_env, **spec_args)  # type: ignore[arg-type]
        with _session(settings) as session:
            add_connection(session, spec, encrypted_secret=encrypted)
    except ConnectionProblem as problem:
        raise _fail(str(problem)) from None
    typer.echo(f"connection '{spec.name}' added ({platform}, {spec.url})")


@connections_app.command("add")
def connections_add(
    platform: Annotated[str, typer.Argument(help="kobo or odk")],
    name: Annotated[str, typer.Argument(help="A short name for this account, used by sync and deploy.")],
    url: Annotated[
        str, typer.Option(help="Server URL, e.g. https://kf.kobotoolbox.org or https://central.example.org")
    ],
    token_env: Annotated[str | None, typer.Option(help="Kobo: environment variable holding the API token.")] = None,
    project: Annotated[int | None, typer.Option(help="ODK Central: project id.")] = None,
    email: Annotated[str | None, typer.Option(help="ODK Central: account e-mail.")] = None,
    password_env: Annotated[
        str | None, typer.Option(help="ODK Central: environment variable holding the password.")
    ] = None,
) -> None:
    """Add a Kobo (`add kobo NAME --url URL`) or ODK Central (`add odk NAME --url URL --project ID --email E`) account.

    The secret is never taken on the command line: it is read from the environment variable (SERA_KOBO_TOKEN or
    SERA_ODK_PASSWORD by default) at each sync, or asked for here when interactive and kept encrypted.
    """
    if platform not in ("kobo", "odk"):
        raise _fail(f"unknown platform '{platform}': use kobo or odk", 2)
    variable = token_env if platform == "kobo" else password_env
    _add_connection({"name": name, "url": url, "project_id": project, "email": email}, platform, variable)


@connections_app.command("list")
def connections_list() -> None:
    """The connections, with where each one's secret comes from (never the secret)."""
    from sync.connections import list_connections

    settings = _settings()
    with _session(settings) as session:
        for c in list_connections(session):
            secret = "encrypted" if c.secret_encrypted else f"${c.secret_env}"
            extra = f" project={c.project_id} email={c.email}" if c.platform == "odk" else ""
            typer.echo(f"{c.name}\t{c.platform}\t{c.url}{extra}\tsecret={secret}")


@connections_app.command("hook-secret")
def connections_hook_secret(name: Annotated[str, typer.Argument(help="Kobo connection name.")]) -> None:
    """Make a new shared secret for Kobo REST Services to send to /api/v1/hooks/kobo/NAME (printed once)."""
    import secrets

    from sync.connections import ConnectionProblem, get_connection, set_hook_secret

    settings = _settings()
    secret = secrets.token_urlsafe(32)
    try:
        with _session(settings) as session:
            connection = get_connection(session, name)
            set_hook_secret(connection, secret)
            session.add(connection)
    except ConnectionProblem as problem:
        raise _fail(str(problem)) from None
    typer.echo("send it as the header `X-Sera-Hook-Secret` in the Kobo REST Service settings:", err=True)
    typer.echo(secret)


@forms_app.command("link")
def forms_link(
    form_id: Annotated[str, typer.Argument(help="Catalogue form id.")],
    remote_id: Annotated[str, typer.Argument(help="Kobo asset uid, or ODK Central xmlFormId.")],
    connection: Annotated[str, typer.Option(help="Connection name.")],
) -> None:
    """Tie a catalogue form to one that already exists on the server, so `sera sync` pulls it."""
    from sync.connections import ConnectionProblem, get_connection, link_form

    settings = _settings()
    try:
        with _session(settings) as session:
            link_form(session, get_connection(session, connection), form_id, remote_id)
    except ConnectionProblem as problem:
        raise _fail(str(problem)) from None
    typer.echo(f"{form_id} ↔ {remote_id} on {connection}")


def _run_sync(settings: Settings, connection: str | None, form: str | None, full: bool) -> bool:
    """One pass over the chosen forms, then the values it changed; True when every run succeeded."""
    from analysis.freshness import refresh_after_sync
    from sera.progress import progress
    from sync.pull import PullOptions
    from sync.service import Target, sync_forms, targets
    from sync.store import PageCounts

    with _engine(settings) as engine:
        chosen = targets(engine, connection=connection, form=form)
        if not chosen:
            typer.echo("nothing to sync: deploy a form (`sera forms deploy`) or link one (`sera forms link`)", err=True)
            return False
        with progress() as report:
            totals: dict[str, PageCounts] = {}

            def on_page(target: Target, counts: PageCounts) -> None:
                name = f"{target.connection.name}/{target.remote_form.form_id}"
                total = totals.setdefault(name, PageCounts())
                total.add(counts)
                report(name, f"new={total.new} changed={total.changed} deleted={total.deleted}")

            runs = sync_forms(engine, settings, chosen, options=PullOptions(full=full), on_page=on_page)
        refreshed = refresh_after_sync(engine, settings, runs)
    for target, run in zip(chosen, runs, strict=True):
        name = f"{target.connection.name}/{target.remote_form.form_id}"
        if run.status == "running":
            since = run.started_at.strftime("%Y-%m-%d %H:%M:%S")
            typer.echo(f"{name}: already running as run={run.id} ({run.worker}, since {since} UTC), not started again")
            continue
        line = (
            f"{name}: {run.status} run={run.id} pages={run.pages} "
            f"new={run.rows_new} changed={run.rows_changed} deleted={run.rows_deleted} retries={run.retries}"
        )
        typer.echo(line if not run.error else f"{line}\n  error: {run.error}")
    if refreshed is not None:
        typer.echo(f"indicator values: {refreshed.mode}, {refreshed.cells_changed} cells changed")
    # A form another run holds is being pulled as asked: that is not this command's failure.
    return all(run.status in ("success", "running") for run in runs)


WATCH_RETRY_FIRST = 5.0
WATCH_RETRY_MAX = 300.0
"""Waits between attempts while the database is unavailable: doubling from the first, capped."""


def watch_sync(
    one_pass: Callable[[], object],
    interval: float,
    *,
    sleep: Callable[[float], None],
    passes: int | None = None,
) -> None:
    """Run `one_pass` every `interval` seconds; while the database is unavailable, say so on stderr and retry
    with a capped backoff instead of dying, so the watcher outlives a database restart. `passes` bounds the
    loop (for tests); None runs for ever."""
    from sera.db import database_unavailable, safe_error_summary

    failures = 0
    done = 0
    while passes is None or done < passes:
        done += 1
        try:
            one_pass()
        except Exception as error:
            if not database_unavailable(error):
                raise
            delay = min(WATCH_RETRY_FIRST * 2**failures, WATCH_RETRY_MAX)
            failures += 1
            typer.echo(
                f"database unavailable ({safe_error_summary(error)}); retrying in {delay:g} s (attempt {failures})",
                err=True,
            )
            sleep(delay)
            continue
        if failures:
            typer.echo("database available again; syncing resumed", err=True)
        failures = 0
        sleep(interval)


@app.command("sync")
def sync_command(
    connection: Annotated[str | None, typer.Option(help="Only this connection.")] = None,
    form: Annotated[str | None, typer.Option(help="Only this catalogue form.")] = None,
    full: Annotated[bool, typer.Option("--full", help="Re-read everything and reconcile deletions.")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="Keep syncing every --interval seconds.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between passes with --watch.")] = 300.0,
) -> None:
    """Pull submissions into the database: incremental by default, lossless, resumable after a crash."""
    import time

    from sera.db import database_unavailable, safe_error_summary

    settings = _settings()
    if watch:
        watch_sync(lambda: _run_sync(settings, connection, form, full), interval, sleep=time.sleep)
        return
    try:
        ok = _run_sync(settings, connection, form, full)
    except Exception as error:
        if not database_unavailable(error):
            raise
        raise _fail(f"database unavailable ({safe_error_summary(error)}); nothing synced") from None
    if not ok:
        raise typer.Exit(1)


# --- tokens ------------------------------------------------------------------------------------------------


@tokens_app.command("create")
def tokens_create(
    role: Annotated[str, typer.Option(help="admin, staff, partner or viewer.")],
    organisation: Annotated[str | None, typer.Option(help="Partner tokens: the partner's code.")] = None,
    days: Annotated[int | None, typer.Option(help="Days until it expires (at least 1; 365 by default).")] = None,
    no_expiry: Annotated[bool, typer.Option("--no-expiry", help="A token that never expires.")] = False,
    label: Annotated[str | None, typer.Option(help="Who or what it is for.")] = None,
) -> None:
    """Create an API token; it is printed once, alone on the last line, and only its hash is kept."""
    from sera.tokens import TokenProblem, create_token

    if no_expiry and days is not None:
        raise _fail("use --days N or --no-expiry, not both")
    settings = _settings()
    try:
        with _session(settings) as session:
            known = _partner_codes(session) if role == "partner" else None
            lifetime = None if no_expiry else (365 if days is None else days)
            row, clear = create_token(
                session, role, organisation=organisation, days=lifetime, label=label, organisations=known
            )
            summary = f"token {row.id}: role={row.role}" + (
                f" organisation={row.organisation}" if row.organisation else ""
            )
            summary += f" expires={row.expires_at:%Y-%m-%d}" if row.expires_at else " expires=never"
    except TokenProblem as problem:
        raise _fail(str(problem)) from None
    typer.echo(summary, err=True)
    typer.echo(clear)


def _partner_codes(session: Session) -> set[str]:
    """The partner organisations of the loaded catalogue (`unknown` is a placeholder, not an organisation)."""
    from analysis.values import PARTNER_DIMENSION

    try:
        catalogue = stored_catalogue(session)
    except NoCatalogue:
        raise _fail(
            "no catalogue is loaded, and partner tokens name one of its partners: run `sera catalogue load`"
        ) from None
    dimension = next((d for d in catalogue.dimensions if d.code == PARTNER_DIMENSION), None)
    return {v.code for v in dimension.values if v.code != "unknown"} if dimension else set()


@tokens_app.command("list")
def tokens_list() -> None:
    """Tokens with their role, organisation, expiry and state (never the token)."""
    from sera.tokens import list_tokens

    settings = _settings()
    with _session(settings) as session:
        for t in list_tokens(session):
            state = "revoked" if t.revoked_at else "active"
            expires = f"{t.expires_at:%Y-%m-%d}" if t.expires_at else "never"
            typer.echo(
                f"{t.id}\t{t.hint}…\t{t.role}\t{t.organisation or '-'}\texpires={expires}\t{state}\t{t.label or ''}"
            )


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[int, typer.Argument(help="The token's number, from `sera tokens list`.")],
) -> None:
    """Revoke a token: it is refused from the next request on."""
    from sera.tokens import revoke_token

    settings = _settings()
    with _session(settings) as session:
        if not revoke_token(session, token_id):
            raise _fail(f"no active token {token_id}")
    typer.echo(f"token {token_id} revoked")


# --- forms -------------------------------------------------------------------------------------------------

DEFAULT_FORMS_DIR = Path("var/forms")


def _stored_catalogue(settings: Settings) -> Catalogue:
    from catalogue.store import NoCatalogue, stored_catalogue

    try:
        with _session(settings) as session:
            return stored_catalogue(session)
    except NoCatalogue as missing:
        raise _fail(str(missing)) from None


@forms_app.command("build")
def forms_build(
    out: Annotated[Path, typer.Option("--out", help="Directory for <form_id>.xlsx, <form_id>.xml, media, manifest.")],
    form_ids: Annotated[list[str] | None, typer.Argument(help="Only these forms (all by default).")] = None,
) -> None:
    """Generate the XLSForms of the loaded catalogue, convert them with pyxform and check them with ODK Validate."""
    from xlsforms.build import build_forms
    from xlsforms.errors import FormBuildError

    settings = _settings()
    catalogue = _stored_catalogue(settings)
    try:
        result = build_forms(catalogue, out, form_ids=form_ids or None)
    except FormBuildError as failed:
        for error in failed.errors:
            typer.echo(error)
        raise _fail(f"{len(failed.errors)} error(s); nothing was written") from None
    for form_id, built in result.forms.items():
        typer.echo(f"{form_id}\t{built.version}\t{out / built.manifest.xml}")
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)


@forms_app.command("diff")
def forms_diff(
    against: Annotated[
        Path, typer.Option(help="A previous build directory (or its manifest.json).")
    ] = DEFAULT_FORMS_DIR,
    connection: Annotated[
        str | None, typer.Option(help="Compare with what is deployed on this connection instead.")
    ] = None,
) -> None:
    """What changed in the forms since the last build (or deployment): questions and the indicators they feed."""
    import tempfile

    from xlsforms.build import build_forms
    from xlsforms.diff import diff_manifests, render_diff
    from xlsforms.errors import FormBuildError
    from xlsforms.manifest import Manifest, read_manifest

    settings = _settings()
    catalogue = _stored_catalogue(settings)
    if connection is not None:
        from sync.deploy import deployed_manifest

        with _session(settings) as session:
            old: Manifest = deployed_manifest(session, connection, catalogue)
    else:
        if not (against / "manifest.json").exists() and not against.is_file():
            raise _fail(f"no build in {against}: run `sera forms build --out {against}` first")
        old = read_manifest(against)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            new = build_forms(catalogue, Path(tmp), validate=False).manifest
        except FormBuildError as failed:
            raise _fail("\n".join(failed.errors)) from None
    typer.echo(render_diff(diff_manifests(old, new, catalogue)), nl=False)


@forms_app.command("deploy")
def forms_deploy(
    connection: Annotated[str, typer.Option(help="Connection to deploy to.")],
    form_ids: Annotated[list[str] | None, typer.Argument(help="Only these forms (all by default).")] = None,
    app_user: Annotated[
        str | None, typer.Option(help="ODK Central: app user for field staff, created if missing, granted every form.")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Only say what the server has and what a deploy would do; change nothing.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Redeploy even the forms the server already serves (Kobo).")
    ] = False,
) -> None:
    """Deploy the forms whose version the server does not serve yet; the others stay (read on the server first)."""
    import tempfile

    from sync.connections import ConnectionProblem
    from sync.deploy import deploy_forms
    from xlsforms.build import build_forms
    from xlsforms.errors import FormBuildError

    if check and force:
        raise _fail("--check changes nothing and --force redeploys: choose one")
    settings = _settings()
    catalogue = _stored_catalogue(settings)
    try:
        with _engine(settings) as engine, tempfile.TemporaryDirectory() as tmp:
            result = build_forms(catalogue, Path(tmp), form_ids=form_ids or None)
            outcomes = deploy_forms(engine, settings, connection, result, app_user=app_user, check=check, force=force)
    except FormBuildError as failed:
        raise _fail("\n".join(failed.errors)) from None
    except ConnectionProblem as problem:
        raise _fail(str(problem)) from None
    for outcome in outcomes:
        server = f"\tserver: {outcome.server}" if check and outcome.server else ""
        detail = f"\t{outcome.detail}" if outcome.detail else ""
        line = f"{outcome.form_id}\t{outcome.status}\t{outcome.version}\t{outcome.remote_id or '-'}"
        typer.echo(f"{line}{server}{detail}")
    if any(outcome.status in ("failed", "conflict") for outcome in outcomes):
        raise typer.Exit(1)


# --- indicators --------------------------------------------------------------------------------------------

indicators_app = typer.Typer(help="Indicator values computed from the synced submissions.", no_args_is_help=True)
app.add_typer(indicators_app, name="indicators")


@indicators_app.command("compute")
def indicators_compute(
    full: Annotated[bool, typer.Option("--full", help="Rebuild every fact and every value from scratch.")] = False,
) -> None:
    """Bring indicator values up to date: only what changed since the last run, or everything with --full."""
    from analysis.compute import compute

    settings = _settings()
    catalogue = _stored_catalogue(settings)
    with _session(settings) as session:
        report = compute(session, catalogue, full=full, person_key_secret=settings.person_key_secret.get_secret_value())
    cells = report.cells
    typer.echo(
        f"{report.mode}: {report.cells_changed} cells changed ({cells.inserted} new, {cells.updated} updated, "
        f"{cells.deleted} removed); {report.submissions} submissions read, {len(report.recomputed)} indicators "
        f"recomputed in {report.seconds:.2f} s"
    )


# --- reports -------------------------------------------------------------------------------------------------

report_app = typer.Typer(help="Reports for the donors and the partners.", no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command("quarterly")
def report_quarterly(
    period: Annotated[str, typer.Argument(help="The quarter, e.g. 2026Q3.")],
    out: Annotated[Path, typer.Option("--out", help="The XLSX file to write.")],
    draft: Annotated[
        bool, typer.Option("--draft", help="Today's figures, not issued (the default; any quarter, even one not over).")
    ] = False,
    issue: Annotated[
        bool,
        typer.Option("--issue", help="Issue (freeze) the next edition; refused when one exists without --reissue."),
    ] = False,
    reissue: Annotated[
        bool, typer.Option("--reissue", help="Issue a corrected edition with today's figures and restatements.")
    ] = False,
    edition: Annotated[int | None, typer.Option(min=1, help="Write this issued edition, as it was issued.")] = None,
    partner: Annotated[str | None, typer.Option(help="Only this partner's copy (its sheet and findings).")] = None,
) -> None:
    """Write the quarterly report: a draft with today's figures unless told to issue one or to fetch an edition.

    A draft freezes nothing, so an officer can preview a quarter as often as needed before cleaning the data.
    `--issue` issues edition 1 (its figures are stored and `--edition 1` writes them as they were, whatever
    changes later); when an edition exists it is refused unless `--reissue` is given, which issues a corrected
    edition with restatements of what changed.
    """
    from analysis.report.issues import (
        ReportProblem,
        draft_quarterly,
        find_issue,
        issue_quarterly,
        issued_content,
    )
    from analysis.report.workbook import report_xlsx
    from sera.progress import progress

    settings = _settings()
    issuing = issue or reissue
    if draft and (issuing or edition is not None):
        raise _fail("--draft writes today's figures: it cannot be combined with --issue, --reissue or --edition")
    if issuing and edition is not None:
        raise _fail("use --issue (or --reissue) to issue an edition, or --edition N to write an issued one, not both")
    catalogue = _stored_catalogue(settings)
    try:
        with progress() as report, _session(settings) as session:
            report(period, "reading figures and data quality findings")
            threshold = settings.suppression_threshold
            latest = find_issue(session, period)
            if edition is not None:
                found = find_issue(session, period, edition)
                if found is None:
                    have = f"its latest is edition {latest.number}" if latest else "none is issued yet"
                    raise _fail(f"{period} has no edition {edition} ({have})")
                content = issued_content(found)
                message = f"{period}: edition {found.number} issued on {found.issued_at:%Y-%m-%d %H:%M} UTC, as issued"
            elif issuing:
                if latest is not None and not reissue:
                    raise _fail(
                        f"{period} already has edition {latest.number} (issued {latest.issued_at:%Y-%m-%d}): "
                        f"`--edition {latest.number}` writes it, `--issue --reissue` issues a corrected edition"
                    )
                found = issue_quarterly(session, catalogue, period, threshold=threshold, issued_by="cli")
                content = issued_content(found)
                message = f"{period}: issued as edition {found.number}; {found.restatements} restatement(s)"
            else:
                content = draft_quarterly(session, catalogue, period, threshold=threshold)
                message = f"{period}: draft written (not issued; `--issue` issues it)"
                if latest is not None:
                    message = (
                        f"{period}: draft written (not issued; edition {latest.number} was issued on "
                        f"{latest.issued_at:%Y-%m-%d}, `--edition {latest.number}` writes it)"
                    )
            if partner is not None:
                if partner not in {p.code for p in content.partners}:
                    raise _fail(f"no partner '{partner}' in this report")
                content = content.for_partner(partner)
            report(period, "writing the workbook")
            data = report_xlsx(content)
    except ReportProblem as problem:
        hint = " (without --issue, a draft is written with today's figures)" if issuing else ""
        raise _fail(f"{problem}{hint}") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    typer.echo(f"{message}: {out}")


# --- demo --------------------------------------------------------------------------------------------------

demo_app = typer.Typer(help="Synthetic PRIM 2 submissions for a first look: `sera demo`, then `sera demo clear`.")
app.add_typer(demo_app, name="demo")


@demo_app.callback(invoke_without_command=True)
def demo(
    ctx: typer.Context,
    submissions: Annotated[int, typer.Option(min=1, help="Submissions over all forms (attendance gets most).")] = 3000,
    seed: Annotated[int, typer.Option(help="The same seed and count always give the same data.")] = 2026,
) -> None:
    """Fill the store with realistic, reproducible synthetic submissions for every form of the loaded catalogue.

    They sit under the connection `demo`, which `sera sync` never pulls. It refuses to run over existing demo
    data (figures someone is looking at would change): `sera demo clear` first, then run it again.
    """
    if ctx.invoked_subcommand is not None:
        return
    from analysis.demo import DemoExists, RealDataPresent, generate_demo
    from analysis.demo_progress import console_progress
    from analysis.demo_world import DemoUnsupported

    settings = _settings()
    try:
        with _session(settings) as session:
            catalogue = stored_catalogue(session)
    except NoCatalogue:
        raise _fail(
            "no catalogue is loaded, and demo submissions are made for its forms: run `sera catalogue load`"
        ) from None
    try:
        with console_progress(submissions, typer.echo) as progress, _session(settings) as session:
            report = generate_demo(session, catalogue, submissions=submissions, seed=seed, progress=progress)
    except (DemoExists, RealDataPresent) as refused:
        raise _fail(str(refused)) from None
    except DemoUnsupported as problem:
        raise _fail(f"cannot generate demo data for this catalogue: {problem}") from None
    typer.echo(f"{'form':<16} {'submissions':>11} {'people':>7} {'edited':>7} {'late':>6}  activity dates")
    for form in report.forms:
        people = f"{form.people:,}" if form.people is not None else "-"
        dates = f"{form.first_activity} → {form.last_activity}" if form.first_activity else "-"
        typer.echo(f"{form.form_id:<16} {form.submissions:>11,} {people:>7} {form.edited:>7,} {form.late:>6,}  {dates}")
    for skipped in report.skipped:
        typer.echo(f"skipped {skipped}", err=True)
    typer.echo(
        f"{report.submissions:,} demo submissions (seed {seed}) in {report.seconds:.1f} s; "
        "`sera indicators compute` turns them into figures, `sera demo clear` removes them"
    )


@demo_app.command("clear")
def demo_clear() -> None:
    """Delete the demo submissions, forms and connection; real connections and their data are untouched."""
    from analysis.compute import compute
    from analysis.demo import clear_demo
    from catalogue.store import NoCatalogue, stored_catalogue

    settings = _settings()
    with _session(settings) as session:
        removed = clear_demo(session)
    typer.echo(f"removed {removed:,} demo submissions" if removed else "no demo data to remove")
    if removed:
        # Deleted rows leave no trace an incremental run could follow: recompute every value without them.
        try:
            with _session(settings) as session:
                secret = settings.person_key_secret.get_secret_value()
                compute(session, stored_catalogue(session), full=True, person_key_secret=secret)
        except NoCatalogue:
            return
        typer.echo("indicator values recomputed without the demo data", err=True)


def main() -> None:
    """Console entry point; a database without the schema gets a hint instead of a traceback."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    try:
        app(prog_name="sera")
    except (OperationalError, ProgrammingError) as error:
        text = str(error.orig)
        if "no such table" not in text and "does not exist" not in text:
            raise
        typer.echo(f"the database has no SERA schema (or an old one): run `sera db upgrade`\n  ({text})", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
