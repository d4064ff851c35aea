"""``gis-platform layers import|publish|rollback``: load a file as a new layer version, publish, roll back."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from gis_platform.cli.common import console, err_console, fail
from gis_platform.cli.tokens import connect
from gis_platform.errors import PlatformError
from gis_platform.ingest.errors import IngestError
from gis_platform.ingest.service import IngestProgress, import_path
from gis_platform.ingest.types import VersionInfo
from gis_platform.ingest.versions import publish_version, rollback_to

app = typer.Typer(help="Load files into layers, publish versions, roll back.", no_args_is_help=True)

#: Exit code of a file the platform refuses (bad content, CRS, encoding …).
EXIT_REJECTED = 2
_WHERE = ("file", "member", "layer", "feature", "row", "column", "features", "layers", "crs", "missing")


def _author(author: str | None) -> str:
    return author or f"cli:{getpass.getuser()}"


def _report_problem(exc: PlatformError) -> None:
    where = ", ".join(f"{k} {exc.extensions[k]}" for k in _WHERE if exc.extensions.get(k) is not None)
    err_console.print(f"[bold red]{exc.title}:[/] {exc.detail}", highlight=False)
    if where:
        err_console.print(f"  ({where})", highlight=False)


def _summary(info: VersionInfo) -> None:
    console.print(
        f"{info.slug}: version {info.version} {info.status}, {info.feature_count:,} features"
        + (f", bbox {', '.join(f'{v:.5f}' for v in info.bbox)}" if info.bbox else ""),
        highlight=False,
    )
    problems = info.report.get("problems") or []
    counts = {
        k: v
        for k, v in info.report.items()
        if isinstance(v, int) and v and k.startswith(("dropped", "repaired", "nul"))
    }
    for kind, n in sorted(counts.items()):
        console.print(f"  {kind.replace('_', ' ')}: {n:,}", highlight=False)
    for p in problems[:20]:
        where = ", ".join(f"{k} {p[k]}" for k in ("feature", "row", "column") if k in p)
        console.print(f"  - {where}: {p['message']}", highlight=False)
    if len(problems) > 20:
        console.print(
            f"  … {info.report.get('problems_total', len(problems)) - 20:,} more in the version's report"
        )


@app.command("import")
def import_file(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The file to load.")
    ],
    layer: Annotated[str, typer.Option("--layer", help="Slug of the layer that gets a new version.")],
    publish: Annotated[
        bool, typer.Option("--publish", help="Publish the new version when it is loaded.")
    ] = False,
    crs: Annotated[
        str | None, typer.Option("--crs", help="CRS when the file has none: EPSG:3405, VN2000-HCMC …")
    ] = None,
    encoding: Annotated[
        str | None, typer.Option("--encoding", help="utf-8, cp1258 or tcvn3 (else .cpg/UTF-8).")
    ] = None,
    layer_name: Annotated[
        str | None, typer.Option("--layer-name", help="Table or layer of a multi-layer file.")
    ] = None,
    author: Annotated[str | None, typer.Option("--author", help="Recorded with the version.")] = None,
) -> None:
    """Load FILE (GeoJSON(Seq), zipped Shapefile, GeoPackage, KML/KMZ, FlatGeobuf, CSV) into LAYER."""
    with (
        connect() as conn,
        Progress(
            SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=err_console, transient=True,
        ) as bar,
    ):  # fmt: skip
        task = bar.add_task(f"{file.name}: validating", total=None)

        def progress(p: IngestProgress) -> None:
            bar.update(task, description=f"{file.name}: {p.stage}", completed=p.rows_done, total=p.total)

        try:
            info = import_path(
                conn, layer, file, layer_name=layer_name, author=_author(author), publish=publish, crs=crs,
                encoding=encoding, progress=progress,
            )  # fmt: skip
        except IngestError as exc:
            bar.stop()
            _report_problem(exc)
            raise typer.Exit(EXIT_REJECTED) from None
        except PlatformError as exc:
            bar.stop()
            _report_problem(exc)
            raise typer.Exit(1) from None
    _summary(info)


@app.command("publish")
def publish_cmd(
    layer: Annotated[str, typer.Argument(help="Layer slug.")],
    version: Annotated[int, typer.Argument(help="Version number (validated or published).")],
    author: Annotated[str | None, typer.Option("--author")] = None,
) -> None:
    """Publish a loaded version: readers switch to it in one transaction."""
    _switch(lambda conn: publish_version(conn, layer, version, actor=_author(author)))


@app.command("rollback")
def rollback_cmd(
    layer: Annotated[str, typer.Argument(help="Layer slug.")],
    to: Annotated[int, typer.Option("--to", help="The earlier version to publish again.")],
    author: Annotated[str | None, typer.Option("--author")] = None,
) -> None:
    """Publish an earlier version again."""
    _switch(lambda conn: rollback_to(conn, layer, to, actor=_author(author)))


def _switch(action: Any) -> None:
    with connect() as conn:
        try:
            info: VersionInfo = action(conn)
        except PlatformError as exc:
            fail(exc.detail)
    console.print(f"{info.slug}: version {info.version} is published ({info.feature_count:,} features)")


def register(target: typer.Typer) -> None:
    """Add ``import``, ``publish`` and ``rollback`` to another Typer app (the ``layers`` group)."""
    target.command("import")(import_file)
    target.command("publish")(publish_cmd)
    target.command("rollback")(rollback_cmd)
