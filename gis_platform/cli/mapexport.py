"""``gis-platform map export``: a self-contained HTML map (folium) for reports."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import psycopg
import typer

from gis_platform.cli.common import console, err_console, fail
from gis_platform.db.cluster import ClusterError
from gis_platform.db.urls import resolve_database_url
from gis_platform.errors import PlatformError
from gis_platform.settings import get_settings

app = typer.Typer(
    help="Maps for reports: export layers and an indicator as one HTML file.", no_args_is_help=True
)


@app.callback()
def _map() -> None:
    """Maps for reports (a callback keeps ``export`` a sub-command)."""


def _split(value: str) -> list[str]:
    return [s.strip() for s in value.split(",") if s.strip()]


@app.command("export")
def export_map(
    out: Path = typer.Option(..., "--out", "-o", help="HTML file to write.", dir_okay=False, writable=True),
    layers: str = typer.Option("", "--layers", help="Layer slugs, comma-separated (published versions)."),
    indicator: str | None = typer.Option(None, "--indicator", help="Colour the wards by this indicator."),
    period: str | None = typer.Option(
        None, "--period", help="Period of the indicator (default: the latest)."
    ),
    at: str = typer.Option(
        "2026-01-01", "--at", help="Boundary date: 2025-03-01 (before) / 2026-01-01 (after)."
    ),
    classes: int = typer.Option(
        5, "--classes", "-k", min=2, max=9, help="Number of classes of the choropleth."
    ),
    title: str = typer.Option("Bản đồ phường — Ward map", "--title", help="Title shown on the map."),
) -> None:
    """Write one HTML file with the data embedded; Leaflet is inlined when vendored (else a CDN)."""
    from gis_platform.web import export  # folium and pandas: loaded by this command, not by every CLI call

    try:
        day = date.fromisoformat(at)
    except ValueError:
        fail(f"--at must be a date (YYYY-MM-DD), not {at!r}", 2)
    settings = get_settings()
    try:
        url = resolve_database_url(settings, start=settings.uses_private_cluster)
    except ClusterError as exc:
        fail(str(exc))
    try:
        with psycopg.connect(url) as conn:
            data = export.collect(conn, _split(layers), indicator, at=day, period=period, k=classes)
    except PlatformError as exc:
        fail(exc.detail)
    page, inlined = export.render(data, title=title)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    if not inlined:
        err_console.print(
            "[yellow]warning:[/] Leaflet is loaded from a CDN (run `make install` to inline it)"
        )
    features = sum(len(layer["geojson"]["features"]) for layer in data.layers)
    console.print(
        f"wrote {out} ({len(page) // 1024} KiB): {len(data.boundaries['features'])} {data.level}s, "
        f"{len(data.layers)} layers ({features} features)"
        + (f", {data.choropleth.code} {data.choropleth.period}" if data.choropleth else "")
    )
