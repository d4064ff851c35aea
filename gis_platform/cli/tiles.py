"""``gis-platform tiles …``: seed the cache, export PMTiles, sweep old versions, write styles."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import typer
import yaml
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from gis_platform.cli.common import console, fail
from gis_platform.db.cluster import ClusterError
from gis_platform.db.pool import Database
from gis_platform.db.urls import resolve_database_url
from gis_platform.errors import PlatformError
from gis_platform.settings import Settings, get_settings
from gis_platform.tiles.cache import live_key_filter
from gis_platform.tiles.lifespan import build_service
from gis_platform.tiles.models import TileLayer
from gis_platform.tiles.seed import TilePlan, parse_bbox, parse_zooms, seed
from gis_platform.tiles.service import TileService
from gis_platform.tiles.styles import layer_from_manifest, write_style

app = typer.Typer(
    help="Vector tiles: seed the cache, export PMTiles, sweep old versions.", no_args_is_help=True
)

T = TypeVar("T")
ZOOMS = typer.Option("0-14", "--zooms", help="Zoom range, e.g. 0-14 (clipped to the layer's).")
BBOX = typer.Option(None, "--bbox", help="minx,miny,maxx,maxy in degrees (default: the layer's bounds).")
WORKERS = typer.Option(4, "--workers", min=1, max=64, help="Tile statements run at once.")


@asynccontextmanager
async def _service(settings: Settings) -> AsyncIterator[TileService]:
    try:
        url = resolve_database_url(settings, start=settings.uses_private_cluster)
    except ClusterError as exc:
        fail(str(exc))
    db = Database(url, settings.db)
    await db.open()
    service = build_service(settings, db)
    try:
        await service.start()
        yield service
    finally:
        await service.close()
        await db.close()


def _run(work: Callable[[TileService], Awaitable[T]], settings: Settings | None = None) -> T:
    async def main() -> T:
        async with _service(settings or get_settings()) as service:
            return await work(service)

    try:
        return asyncio.run(main())
    except PlatformError as exc:
        fail(exc.detail)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


async def _plan(service: TileService, slug: str, zooms: str, bbox: str | None) -> TilePlan:
    ref = await service.resolve(slug)
    plan = TilePlan.make(ref, parse_zooms(zooms), parse_bbox(bbox) if bbox else None)
    if not plan.zooms:
        fail(f"zooms {zooms} are outside {slug}'s range {ref.minzoom}-{ref.maxzoom}")
    return plan


@app.command("seed")
def seed_command(slug: str, zooms: str = ZOOMS, bbox: str | None = BBOX, workers: int = WORKERS) -> None:
    """Fill the tile cache of SLUG (resumable: tiles already on disk are skipped)."""

    async def work(service: TileService) -> Any:
        plan = await _plan(service, slug, zooms, bbox)
        with _progress() as bar:
            task = bar.add_task(f"seed {slug} z{plan.zooms[0]}-{plan.zooms[-1]}", total=plan.total)
            return await seed(service, plan, workers=workers, progress=lambda n: bar.advance(task, n))

    report = _run(work)
    console.print(
        f"{report.rendered} tiles rendered ({report.empty} empty, {report.bytes:,} bytes gzip), "
        f"{report.skipped} already cached"
    )
    for error in report.errors[:10]:
        console.print(f"[red]failed[/] {error}")
    if report.errors:
        raise typer.Exit(1)


@app.command("export")
def export_command(
    slug: str,
    pmtiles: Path = typer.Option(..., "--pmtiles", help="The PMTiles file to write.", dir_okay=False),
    zooms: str = ZOOMS,
    bbox: str | None = BBOX,
    workers: int = WORKERS,
) -> None:
    """Write SLUG's tiles into a PMTiles archive for static hosting."""
    from gis_platform.tiles.export import export_pmtiles  # the pmtiles package: only for this command

    async def work(service: TileService) -> Any:
        plan = await _plan(service, slug, zooms, bbox)
        with _progress() as bar:
            task = bar.add_task(f"export {slug}", total=plan.total)
            return await export_pmtiles(
                service, plan, pmtiles, workers=workers, progress=lambda n: bar.advance(task, n)
            )

    report = _run(work)
    console.print(
        f"{report.path}: {report.tiles} tiles ({report.empty} empty skipped), {report.bytes:,} bytes"
    )


@app.command("sweep")
def sweep_command(
    current_only: bool = typer.Option(
        False,
        "--current-only",
        help="Also delete superseded versions still stored (their URLs then re-render).",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be deleted."),
) -> None:
    """Delete cached tiles (disk, Redis) of layer versions no longer served."""

    async def work(service: TileService) -> dict[str, int]:
        keep = live_key_filter(service.live_version_keys(keep_superseded=not current_only))
        if dry_run:
            disk = service.cache.disk
            stale = [k for k in (disk.layer_keys() if disk else []) if not keep(k)]
            return {"disk": len(stale), "redis": 0, "memory": 0}
        return await service.cache.sweep(keep)

    counts = _run(work)
    verb = "would delete" if dry_run else "deleted"
    console.print(f"{verb}: {counts['disk']} layer versions on disk, {counts['redis']} tiles in Redis")


@app.command("styles")
def styles_command(
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing style files."),
    from_manifests: Path | None = typer.Option(
        None,
        "--from-manifests",
        help="Read layers from manifests in this directory (e.g. layers/), not the database.",
    ),
) -> None:
    """Write a MapLibre style for every layer without one into tiles/styles/."""
    settings = get_settings()
    tiles = settings.tiles

    def write_all(layers: list[TileLayer]) -> list[Path]:
        written = [
            write_style(layer, tiles.styles_dir, glyphs_url=tiles.glyphs_url, overwrite=overwrite)
            for layer in layers
        ]
        return [p for p in written if p is not None]

    if from_manifests is not None:
        manifests = sorted(from_manifests.glob("*/*.yaml"))
        layers = [
            layer_from_manifest(yaml.safe_load(path.read_text(encoding="utf-8")), tiles) for path in manifests
        ]
        paths = write_all([layer for layer in layers if layer.slug])
    else:

        async def work(service: TileService) -> list[Path]:
            return write_all(list(service.catalog.layers.values()))

        paths = _run(work, settings)
    console.print(f"{len(paths)} style files written to {tiles.styles_dir}")
