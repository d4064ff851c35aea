"""The ``gis-platform`` command line: thin wrappers over the services."""

from __future__ import annotations

import logging

import typer

from gis_platform.cli import db as db_cli
from gis_platform.cli import demo as demo_cli
from gis_platform.cli import layers as layers_cli
from gis_platform.cli import mapexport as map_cli
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
app.add_typer(layers_cli.app, name="layers")
app.add_typer(map_cli.app, name="map")
app.command("migrate")(db_cli.migrate)
app.command("serve")(demo_cli.serve)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug output.")) -> None:
    configure_logging(level=logging.DEBUG if verbose else logging.WARNING)


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "console", "err_console", "fail", "main"]
