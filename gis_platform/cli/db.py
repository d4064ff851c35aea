"""``gis-platform db …`` and ``gis-platform migrate``."""

from __future__ import annotations

from pathlib import Path

import typer

from gis_platform.cli.common import console, fail
from gis_platform.db import migrate as migrations
from gis_platform.db.cluster import ClusterError, LocalCluster
from gis_platform.db.replica import ReplicaCluster
from gis_platform.db.urls import local_cluster, redact, resolve_database_url
from gis_platform.settings import get_settings

app = typer.Typer(
    help="The database: the private PostGIS cluster, or the server in DATABASE_URL.", no_args_is_help=True
)
replica_app = typer.Typer(
    help="Streaming replicas of the database, as private clusters.", no_args_is_help=True
)
app.add_typer(replica_app, name="replica")


@replica_app.command("up")
def replica_up(
    primary: str = typer.Option(..., "--from", help="The primary's URL (postgresql://user:pw@host:port/db)."),
    data_dir: Path = typer.Option(Path(".gis-platform/replica"), help="Where the replica lives."),
    port: int = typer.Option(54379, help="Preferred port."),
) -> None:
    """Create (first time, with pg_basebackup) and start a hot-standby replica; print its URL last."""
    try:
        replica = ReplicaCluster(data_dir.resolve(), primary, preferred_port=port)
        status = replica.up()
    except ClusterError as exc:
        fail(str(exc))
    console.print(f"replica running on port {status.port} (data in {status.data_dir})")
    typer.echo(replica.url())


@replica_app.command("down")
def replica_down(
    data_dir: Path = typer.Option(Path(".gis-platform/replica"), help="Where the replica lives."),
) -> None:
    """Stop a replica started with `db replica up`."""
    try:
        LocalCluster(data_dir.resolve()).down()
    except ClusterError as exc:
        fail(str(exc))
    console.print("replica stopped")


@app.command("up")
def up() -> None:
    """Create (the first time) and start the private cluster; with DATABASE_URL, check that server."""
    settings = get_settings()
    if not settings.uses_private_cluster:
        url = resolve_database_url(settings)
        console.print(f"DATABASE_URL is set; using {redact(url)} (no private cluster started)")
        return
    try:
        status = local_cluster(settings).up()
    except ClusterError as exc:
        fail(str(exc))
    console.print(f"private PostGIS cluster running on port {status.port} (data in {status.data_dir})")


@app.command("down")
def down() -> None:
    """Stop the private cluster (its data stays)."""
    settings = get_settings()
    if not settings.uses_private_cluster:
        fail("DATABASE_URL is set: the platform does not manage that server")
    try:
        local_cluster(settings).down()
    except ClusterError as exc:
        fail(str(exc))
    console.print("private PostGIS cluster stopped")


@app.command("status")
def status() -> None:
    """Say whether the database runs and where."""
    settings = get_settings()
    if not settings.uses_private_cluster:
        url = resolve_database_url(settings)
        console.print(f"external database: {redact(url)}")
        return
    try:
        st = local_cluster(settings).status()
    except ClusterError as exc:
        fail(str(exc))
    state = "running" if st.running else ("stopped" if st.initialised else "not created")
    console.print(f"private cluster: {state}; port {st.port}; pid {st.pid}; data {st.data_dir}")
    if not st.running:
        raise typer.Exit(3)


@app.command("url")
def url() -> None:
    """Print the connection URL (with its password: keep it private)."""
    settings = get_settings()
    try:
        typer.echo(resolve_database_url(settings))
    except ClusterError as exc:
        fail(str(exc))


def migrate(
    revision: str = typer.Argument("head", help="Target revision."),
    down: bool = typer.Option(False, "--down", help="Downgrade to REVISION (e.g. base) instead."),
) -> None:
    """Apply the Alembic migrations (starts the private cluster if needed)."""
    settings = get_settings()
    try:
        target = resolve_database_url(settings, start=settings.uses_private_cluster)
    except ClusterError as exc:
        fail(str(exc))
    if down:
        migrations.downgrade(target, revision)
    else:
        migrations.upgrade(target, revision)
    console.print(
        f"database at revision {migrations.current_revision(target)} (head {migrations.head_revision()})"
    )
