"""``gis-platform demo …`` and ``gis-platform serve``."""

from __future__ import annotations

from typing import Any

import psycopg
import typer
import uvicorn
from rich.table import Table

from gis_platform.cli.common import console, fail
from gis_platform.db import migrate as migrations
from gis_platform.db.cluster import ClusterError
from gis_platform.db.urls import resolve_database_url
from gis_platform.settings import get_settings
from gis_platform.web.workers import Supervisor, check_port_free, reuse_port_supported

app = typer.Typer(help="The sample city: Ho Chi Minh City's real boundaries.", no_args_is_help=True)


@app.command("load")
def load() -> None:
    """Migrate and load HCMC's administrative units (idempotent: a second run changes nothing)."""
    # GDAL and the pandas stack load here, not with the CLI: `serve` runs the app in the CLI's process
    from gis_platform.admin.loader import load_hcmc
    from gis_platform.stats.imports import load_stats_demo

    settings = get_settings()
    try:
        url = resolve_database_url(settings, start=settings.uses_private_cluster)
    except ClusterError as exc:
        fail(str(exc))
    migrations.upgrade(url)
    with psycopg.connect(url) as conn:
        report = load_hcmc(conn, settings.sources_dir)
    with psycopg.connect(url) as conn:
        stats = load_stats_demo(conn, settings.sources_dir)
    table = Table(title="HCMC administrative units")
    for column in ("boundary version", "inserted", "updated", "unchanged"):
        table.add_column(column)
    for vid, counts in report.versions.items():
        table.add_row(vid, str(counts["inserted"]), str(counts["updated"]), str(counts["unchanged"]))
    cw = report.crosswalk
    table.add_row("crosswalk (raw rows)", str(cw["inserted"]), str(cw["updated"]), str(cw["unchanged"]))
    table.add_row("statistics (derived units, indicators)", str(stats.changed), "", "")
    console.print(table)
    console.print(f"{report.changed + stats.changed} rows changed")


def serve(
    host: str = typer.Option(None, help="Interface to bind (default from settings: 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default from settings: 8000)."),
    workers: int = typer.Option(
        1, min=1, max=64, help="Worker processes (each with its own pools, event listener and tile caches)."
    ),
    access_log: bool = typer.Option(True, "--access-log/--no-access-log", help="Log every request."),
) -> None:
    """Serve the API and the web map (starts the private cluster if needed)."""
    settings = get_settings()
    try:
        resolve_database_url(settings, start=settings.uses_private_cluster)
    except ClusterError as exc:
        fail(str(exc))
    bind_host = host or settings.api.host
    bind_port = port or settings.api.port
    console.print(f"serving on http://{bind_host}:{bind_port}/")
    options: dict[str, Any] = {
        "app": "gis_platform.web.main:app",
        "host": bind_host,
        "port": bind_port,
        "log_level": "info",
        "access_log": access_log,
        "proxy_headers": True,
        "server_header": False,  # no "server: uvicorn" on every answer: nothing to learn about the stack
    }
    if workers > 1 and reuse_port_supported():
        # one socket per worker: the kernel spreads connections evenly (gis_platform.web.workers)
        try:
            check_port_free(bind_host, bind_port)
        except OSError as exc:
            fail(f"cannot listen on {bind_host}:{bind_port}: {exc}")
        raise typer.Exit(Supervisor(options, workers).run())
    uvicorn.run(
        **options,
        workers=workers,
        # a worker answers the supervisor's pings only once spawned and imported (seconds on a busy host):
        # uvicorn's default 5 s would kill starting workers as hung, over and over
        timeout_worker_healthcheck=60,
    )
