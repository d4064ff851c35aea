"""``gis-platform stats …``: derive the hierarchy, seed indicators, import observations and crosswalk shares."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import typer
from rich.table import Table

from gis_platform.cli.common import console, err_console, fail
from gis_platform.db.cluster import ClusterError
from gis_platform.db.urls import resolve_database_url
from gis_platform.errors import PlatformError
from gis_platform.settings import get_settings
from gis_platform.stats import imports
from gis_platform.stats.aggregates.compute import aggregate
from gis_platform.stats.hierarchy import derive_hierarchy
from gis_platform.stats.seed import seed as seed_stats

app = typer.Typer(help="Ward and neighbourhood statistics.", no_args_is_help=True)
crosswalk_app = typer.Typer(help="Shares between the 273 and the 168 wards.", no_args_is_help=True)
app.add_typer(crosswalk_app, name="crosswalk")


@contextmanager
def _connection() -> Iterator[psycopg.Connection[Any]]:
    settings = get_settings()
    try:
        url = resolve_database_url(settings, start=settings.uses_private_cluster)
    except ClusterError as exc:
        fail(str(exc))
    try:
        with psycopg.connect(url) as conn:
            yield conn
    except PlatformError as exc:
        _problem(exc)


def _problem(exc: PlatformError) -> None:
    rows = exc.extensions.get("errors") or []
    if rows:
        table = Table(title="problems", show_lines=False)
        for column in ("row", "problem"):
            table.add_column(column)
        for r in rows[:200]:
            where = r.get("row", r.get("old_code", ""))
            text = (
                r.get("error")
                or r.get("reason")
                or f"ambiguous: {', '.join(c['code'] for c in r.get('candidates', []))}"
            )
            table.add_row(str(where), str(text))
        err_console.print(table)
    fail(exc.detail, code=2 if exc.status < 500 else 1)


@app.command("derive")
def derive(force: bool = typer.Option(False, help="Recompute even when the inputs are unchanged.")) -> None:
    """Derive approximate pre-reform wards, synthetic neighbourhoods/groups and crosswalk shares."""
    with _connection() as conn:
        report = derive_hierarchy(conn, get_settings().sources_dir, force=force)
    if report.skipped:
        console.print("hierarchy up to date: 0 rows changed")
        return
    console.print(
        f"{report.approximate_wards} approximate wards ({report.single_pieces} exact pieces, "
        f"{report.shared_pieces} shared pieces split), {report.neighbourhoods} neighbourhoods, "
        f"{report.residential_groups} residential groups, {report.crosswalk_pairs} crosswalk pairs "
        f"in {report.seconds}s"
    )
    if report.missing_wards:
        err_console.print(f"no polygon for: {', '.join(report.missing_wards)}")
    console.print(f"{report.changed} rows changed")


@app.command("seed")
def seed(force: bool = typer.Option(False, help="Rewrite even when nothing changed.")) -> None:
    """Seed the indicator registry, the census population (with its match report) and synthetic data."""
    with _connection() as conn:
        report = seed_stats(conn, get_settings().sources_dir, force=force)
    census = report.census
    console.print(
        f"census: {census['matched']}/{census['rows']} wards of 2019 matched "
        f"({census['matched_by']}); {census['targets_with_population']}/{census['targets']} wards of "
        f"2025-01-01 have a population; {len(census['unmatched'])} unmatched "
        f"({census['population_2019_total'] - census['population_2019_placed']:,} people not placed)"
    )
    if report.skipped:
        console.print("statistics up to date: 0 rows changed")
        return
    written = sum(report.observations.values())
    console.print(f"{report.indicators} indicators and {written} observations written")
    console.print(f"{report.changed} rows changed")


@app.command("import")
def import_file(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A .csv or .xlsx file."),
    indicator: str = typer.Option(..., "--indicator", help="Indicator code (see GET /stats/indicators)."),
    period: str = typer.Option(..., "--period", help="YYYY, YYYY-Qn or YYYY-MM."),
    level: str = typer.Option("ward", help="Level of the units in the file."),
    at: datetime | None = typer.Option(None, formats=["%Y-%m-%d"], help="Boundaries of this day."),
    allow_partial: bool = typer.Option(False, "--allow-partial", help="Write the matched rows anyway."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check and report; write nothing."),
) -> None:
    """Import observations; nothing is written unless every row matches (or --allow-partial)."""
    with _connection() as conn:
        report = imports.import_observations(
            conn, file.read_bytes(), file.name, indicator=indicator, period=period, level=level,
            at=at.date() if at else None, allow_partial=allow_partial, dry_run=dry_run,
        )  # fmt: skip
    for r in report["unmatched"]:
        err_console.print(f"row {r['row']}: unmatched ({r['reason']})")
    for r in report["ambiguous"]:
        err_console.print(f"row {r['row']}: ambiguous ({', '.join(c['code'] for c in r['candidates'])})")
    written = report["written"]
    console.print(
        f"{report['matched']}/{report['rows']} rows matched on {report['boundary_version']}; "
        f"{written['inserted']} inserted, {written['updated']} updated" + (" (dry run)" if dry_run else "")
    )


@crosswalk_app.command("import")
def crosswalk_import(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV: old_code,new_code,share[,note]"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check and report; write nothing."),
) -> None:
    """Replace the shares of the old wards listed (each old ward's shares must sum to 1)."""
    with _connection() as conn:
        report = imports.import_crosswalk(conn, file.read_bytes(), author="cli", dry_run=dry_run)
    console.print(
        f"{report['rows']} rows for {report['old_wards']} old wards; {report['changed']} pairs changed"
    )


@crosswalk_app.command("export")
def crosswalk_export() -> None:
    """Print the crosswalk as CSV (a starting point for an edit)."""
    with _connection() as conn:
        shares = imports.current_shares(conn)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["old_code", "new_code", "relation", "share", "method", "share_new", "method_new"])
    for s in shares:
        writer.writerow([s.old_code, s.new_code, s.relation, f"{s.share_old:.9f}", s.method,
                         f"{s.share_new:.9f}", s.method_new])  # fmt: skip
    typer.echo(out.getvalue(), nl=False)


@app.command("aggregate")
def aggregate_layers(
    slugs: list[str] | None = typer.Argument(None, help="Layer slugs (default with --all: every layer)."),
    all_layers: bool = typer.Option(False, "--all", help="Every layer with a published version."),
    force: bool = typer.Option(False, help="Recompute even when up to date."),
) -> None:
    """Compute layer aggregates (count, length, area per unit) of published versions; skips fresh ones."""
    if not slugs and not all_layers:
        fail("name layer slugs or pass --all", code=2)
    with _connection() as conn:
        conn.autocommit = True  # one transaction per version: each layer's aggregates appear when computed
        report = aggregate(conn, None if all_layers else slugs, force=force)
    if report.pieces:
        n = report.pieces
        console.print(f"unit atoms rebuilt: {n['units']} units, {n['atoms']} atoms, {n['pieces']} pieces")
    table = Table(title="layer aggregates")
    for column in ("layer", "version", "status", "units", "seconds"):
        table.add_column(column)
    for r in report.results:
        table.add_row(
            r.slug, str(r.version), r.status, str(r.units or ""), f"{r.seconds:.2f}" if r.seconds else ""
        )
    console.print(table)
    known = {r.slug for r in report.results}
    missing = [s for s in slugs or [] if s not in known]
    console.print(f"{report.computed} versions computed, {len(report.results) - report.computed} unchanged")
    if missing:
        fail(f"no published version of: {', '.join(missing)}", code=2)


@app.command("layers")
def boundary_layers(
    slugs: list[str] | None = typer.Argument(None, help="Derived boundary layer slugs (default: all)."),
    force: bool = typer.Option(False, help="Reload even when the boundaries are unchanged."),
) -> None:
    """Publish the boundaries without a source file (273 pre-reform wards, neighbourhoods) as layers."""
    # geopandas: loaded by this command, not with the CLI (`serve` runs the app in the CLI's process)
    from gis_platform.stats.boundary_layers import DERIVED_LAYERS, publish_boundary_layers

    unknown = [s for s in slugs or [] if s not in DERIVED_LAYERS]
    if unknown:
        fail(f"not a derived boundary layer: {', '.join(unknown)}", code=2)
    with _connection() as conn:
        conn.autocommit = True  # the ingest pipeline's rule
        published = publish_boundary_layers(conn, slugs or None, force=force)
    for slug, version in published.items():
        console.print(f"{slug}: " + (f"version {version}" if version else "no polygons loaded; skipped"))
