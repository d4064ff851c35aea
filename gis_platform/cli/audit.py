"""``gis-platform audit list``: the newest writes recorded in the audit log."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from gis_platform.audit.service import list_events_sync
from gis_platform.cli.common import console
from gis_platform.cli.tokens import connect

app = typer.Typer(
    help="The audit log: who wrote what, when, with versions before and after.", no_args_is_help=True
)


@app.command("list")
def list_(
    target: Annotated[str | None, typer.Option("--target", help="Only this layer slug or token id.")] = None,
    action: Annotated[
        str | None, typer.Option("--action", help="Only this action (publish, layer.update …).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="How many, newest first.")] = 50,
) -> None:
    """List the newest audit events."""
    with connect() as conn:
        events = list_events_sync(conn, target=target, action=action, limit=limit)
    table = Table("id", "at", "actor", "role", "action", "target", "before", "after")
    for e in events:
        table.add_row(
            str(e.id), e.at.isoformat(timespec="seconds"), e.actor, e.role or "", e.action,
            f"{e.target_kind}:{e.target}" if e.target else e.target_kind,
            "" if e.version_before is None else str(e.version_before),
            "" if e.version_after is None else str(e.version_after),
        )  # fmt: skip
    console.print(table)
