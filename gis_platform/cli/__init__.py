"""The ``gis-platform`` command line: thin wrappers over the services."""

from __future__ import annotations

import logging

import typer

from gis_platform.cli import audit as audit_cli
from gis_platform.cli import db as db_cli
from gis_platform.cli import demo as demo_cli
from gis_platform.cli import ingest as ingest_cli
from gis_platform.cli import layers as layers_cli
from gis_platform.cli import mapexport as map_cli
from gis_platform.cli import stats as stats_cli
from gis_platform.cli import tiles as tiles_cli
from gis_platform.cli import tokens as tokens_cli
from gis_platform.cli.common import console, err_console, fail
from gis_platform.logs import configure_logging

app = typer.Typer(
    name="gis-platform",
    help="Ward GIS Platform: PostGIS catalogue, ingest, tiles, features and ward statistics.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db_cli.app, name="db")
app.add_typer(demo_cli.app, name="demo")
ingest_cli.register(layers_cli.app)
app.add_typer(layers_cli.app, name="layers")
app.add_typer(tokens_cli.app, name="tokens")
app.add_typer(audit_cli.app, name="audit")
app.add_typer(tiles_cli.app, name="tiles")
app.add_typer(map_cli.app, name="map")
app.add_typer(stats_cli.app, name="stats")
app.command("migrate")(db_cli.migrate)
app.command("serve")(demo_cli.serve)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug output.")) -> None:
    configure_logging(level=logging.DEBUG if verbose else logging.WARNING)


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "console", "err_console", "fail", "main"]
