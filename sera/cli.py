"""The `sera` command line: the SERA officer's and the operator's entry point."""

import sys
from pathlib import Path
from typing import Annotated

import typer

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
app.add_typer(db_app, name="db")
app.add_typer(catalogue_app, name="catalogue")

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
    engine = make_engine(settings.database_url)
    try:
        with session_scope(engine) as session:
            return load_catalogue(session, catalogue, source=str(path))
    finally:
        engine.dispose()


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
    settings = _settings()
    engine = make_engine(settings.database_url)
    try:
        with session_scope(engine) as session:
            catalogue = stored_catalogue(session)
    except NoCatalogue as missing:
        raise _fail(str(missing)) from None
    finally:
        engine.dispose()
    writers[format](catalogue, out)
    typer.echo(f"wrote {out}", err=True)


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    prepare: Annotated[bool, typer.Option(help="Upgrade the schema and load the catalogue first.")] = True,
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
    uvicorn.run(create_app(settings), host=host, port=port, log_level=settings.log_level.lower())


def main() -> None:
    """Console entry point."""
    app(prog_name="sera")


if __name__ == "__main__":
    sys.exit(main())
