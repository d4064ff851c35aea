"""``gis-platform layers …``: validate the manifests in layers/, export their schema, sync them."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from rich.table import Table

from gis_platform.catalogue.manifest import (
    LAYERS_DIR,
    FileSource,
    LayerSet,
    ManifestError,
    load_layer_set,
    manifest_json_schema,
)
from gis_platform.catalogue.sync import SOURCES_ROOT, IngestUnavailable, SyncReport, sync
from gis_platform.cli.common import console, err_console, fail
from gis_platform.db.cluster import ClusterError
from gis_platform.db.urls import resolve_database_url
from gis_platform.settings import get_settings

app = typer.Typer(help="The layer catalogue: manifests in layers/ and their data.", no_args_is_help=True)

LayersDirOption = typer.Option(
    LAYERS_DIR, "--layers-dir", help="Directory of the manifests.", show_default=False
)


def _load(layers_dir: Path, *, check_sources: bool) -> LayerSet:
    try:
        return load_layer_set(layers_dir, sources_dir=layers_dir / "sources", check_sources=check_sources)
    except ManifestError as exc:
        for problem in exc.problems:
            err_console.print(
                f"[red]{problem.file}[/]: [bold]{problem.field}[/]: {problem.message}", highlight=False
            )
        fail(f"{len(exc.problems)} problem(s) in the manifests")


@app.command("validate")
def validate(
    layers_dir: Path = LayersDirOption,
    sources: bool = typer.Option(True, help="Also open every source file and check its layer and columns."),
) -> None:
    """Check every manifest against the schema, the categories and (by default) its source file."""
    layer_set = _load(layers_dir, check_sources=sources)
    categories = {m.category for m in layer_set.manifests}
    console.print(f"{len(layer_set.manifests)} manifests in {len(categories)} categories are valid")


@app.command("schema")
def schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
    ] = None,
) -> None:
    """Print the JSON Schema of a layer manifest."""
    text = json.dumps(manifest_json_schema(), ensure_ascii=False, indent=2) + "\n"
    if output:
        output.write_text(text, encoding="utf-8")
        console.print(f"schema written to {output}")
    else:
        sys.stdout.write(text)


@app.command("list")
def list_layers(
    layers_dir: Path = LayersDirOption,
    category: str | None = typer.Option(None, help="Only this category."),
) -> None:
    """List the manifests: slug, category, geometry, source, visibility."""
    layer_set = _load(layers_dir, check_sources=False)
    table = Table(title=f"Layer manifests in {layers_dir}")
    for column in ("slug", "category", "geometry", "source", "features", "synthetic", "visibility"):
        table.add_column(column)
    shown = [m for m in layer_set.manifests if category in (None, m.category)]
    for m in shown:
        src = m.source
        kind = src.file if isinstance(src, FileSource) else f"generator {src.generator}"
        count = "" if isinstance(src, FileSource) else f"{src.count:,}" + (" (large)" if m.large else "")
        table.add_row(
            m.slug, m.category, m.geometry_type.value, kind, count, str(m.synthetic), m.visibility.value
        )
    console.print(table)
    console.print(f"{len(shown)} layers")


def _report_table(report: SyncReport, show_all: bool) -> Table:
    table = Table(title="layers sync" + (" (dry run)" if report.dry_run else ""))
    for column in ("slug", "metadata", "data", "version", "features"):
        table.add_column(column)
    quiet = {"up to date", "not requested", "skipped (large; use --large)"}
    for r in report.layers:
        if show_all or r.metadata != "unchanged" or r.data not in quiet:
            version = "" if r.version is None else str(r.version)
            features = "" if r.feature_count is None else f"{r.feature_count:,}"
            table.add_row(r.slug, r.metadata, r.data + (f": {r.error}" if r.error else ""), version, features)
    return table


@app.command("sync")
def sync_command(
    large: bool = typer.Option(False, "--large", help="Also generate and load the layers marked large."),
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Only these slugs (repeat or comma-separate).")
    ] = None,
    dry_run: bool = typer.Option(False, "--dry-run", help="Report what would change; write nothing."),
    metadata_only: bool = typer.Option(
        False, "--metadata-only", help="Sync categories and metadata, not data."
    ),
    show_all: bool = typer.Option(False, "--all", help="List every layer, not only those that changed."),
    author: str = typer.Option("layers-sync", help="Recorded as the author of new versions."),
    layers_dir: Path = LayersDirOption,
) -> None:
    """Upsert categories and layer metadata from the manifests, then load data that is missing or stale."""
    layer_set = _load(layers_dir, check_sources=False)
    slugs = [s.strip() for item in only or [] for s in item.split(",") if s.strip()] or None
    settings = get_settings()
    try:
        url = resolve_database_url(settings, start=settings.uses_private_cluster)
    except ClusterError as exc:
        fail(str(exc))
    sources = layers_dir / "sources" if layers_dir != LAYERS_DIR else SOURCES_ROOT
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            report = sync(conn, layer_set, only=slugs, dry_run=dry_run, metadata_only=metadata_only,
                          include_large=large, sources_root=sources, author=author)  # fmt: skip
    except KeyError as exc:
        fail(str(exc.args[0]))
    except IngestUnavailable as exc:
        fail(str(exc))
    except psycopg.errors.UndefinedTable:
        fail("the catalogue tables do not exist; run `gis-platform migrate` first")
    console.print(_report_table(report, show_all))
    counts = report.counts()
    summary = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("created", "updated", "unchanged", "conflict"))
    console.print(f"{len(report.layers)} layers: {summary}; categories: {report.categories}")
    if not metadata_only:
        data = Counter(r.data for r in report.layers)
        console.print(
            "data: " + ", ".join(f"{n} {status}" for status, n in sorted(data.items())), highlight=False
        )
    if report.orphaned:
        console.print(f"[yellow]in the database but no longer in layers/:[/] {', '.join(report.orphaned)}")
    if report.failed:
        fail(f"{len(report.failed)} layer(s) failed to load")
