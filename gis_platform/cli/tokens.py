"""``gis-platform tokens …``: create, list and revoke API bearer tokens."""

from __future__ import annotations

from typing import Annotated, Any

import psycopg
import typer
from rich.table import Table

from gis_platform.auth.tokens import ROLES, create_token, list_tokens, revoke_token
from gis_platform.cli.common import console, err_console, fail
from gis_platform.db.cluster import ClusterError
from gis_platform.db.urls import resolve_database_url
from gis_platform.errors import PlatformError
from gis_platform.settings import get_settings

app = typer.Typer(
    help="API tokens (bearer tokens with a role; only their hashes are stored).", no_args_is_help=True
)


def connect() -> psycopg.Connection[Any]:
    """An autocommit connection to the configured database (the private cluster is started if needed)."""
    settings = get_settings()
    try:
        url = resolve_database_url(settings, start=settings.uses_private_cluster)
        return psycopg.connect(url, autocommit=True)
    except (ClusterError, psycopg.OperationalError) as exc:
        fail(f"cannot reach the database: {exc}")


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="Who or what uses the token.")],
    role: Annotated[str, typer.Option("--role", help=f"One of {', '.join(ROLES)}.")] = "editor",
) -> None:
    """Create a token; it is printed once, alone on the last line, and only its hash is kept."""
    with connect() as conn:
        try:
            token, info = create_token(conn, name=name, role=role)
        except PlatformError as exc:
            fail(exc.detail)
    err_console.print(
        f"token {info.id} [bold]{info.name}[/] ({info.role}) created; store it now, it cannot be shown again:",
        highlight=False,
    )
    typer.echo(token)


@app.command("list")
def list_(
    all_: Annotated[bool, typer.Option("--all", help="Include revoked tokens.")] = False,
) -> None:
    """List tokens (id, name, role, prefix, use), never the tokens themselves."""
    with connect() as conn:
        tokens = list_tokens(conn, include_revoked=all_)
    table = Table("id", "name", "role")
    table.add_column("prefix", no_wrap=True, min_width=len(tokens[0].prefix) + 1 if tokens else 8)
    for title in ("created", "last used", "revoked"):
        table.add_column(title)
    for t in tokens:
        table.add_row(
            str(t.id), t.name, t.role, t.prefix + "…", f"{t.created_at:%Y-%m-%d %H:%M}",
            f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "-",
            f"{t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "",
        )  # fmt: skip
    console.print(table)


@app.command("revoke")
def revoke(
    token: Annotated[str, typer.Argument(help="The token's id or prefix, as `tokens list` shows them.")],
) -> None:
    """Revoke a token: requests using it are refused from now on."""
    with connect() as conn:
        try:
            info = revoke_token(conn, token.rstrip("…"))
        except PlatformError as exc:
            fail(exc.detail)
    console.print(f"token {info.id} ({info.name}, {info.role}) revoked")
