"""Admins' changes to the catalogue: edit a layer's metadata (visibility included), delete a layer.

Each change, its audit record and the ``gis_layer_changed`` event commit in one transaction, so
every worker's tile catalogue hears of it (and a layer turned internal stops being served to
anonymous callers) as soon as it is committed.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from gis_platform import events
from gis_platform.audit import service as audit
from gis_platform.catalogue import queries
from gis_platform.catalogue.models import LayerPatch
from gis_platform.catalogue.service import search_text_of
from gis_platform.errors import NotFound
from gis_platform.ingest.errors import InvalidField


def _not_found(slug: str) -> NotFound:
    # the same words as a read of an unknown layer
    return NotFound(f"No public layer with slug {slug!r} in the catalogue.", parameter="slug")


async def patch_layer(
    conn: asyncpg.Connection, slug: str, patch: LayerPatch, *, actor: str
) -> dict[str, Any]:
    """Apply ``patch`` to the layer's metadata; return the changes as ``{field: {"from": …, "to": …}}``.

    Raises:
        NotFound: no layer ``slug``.
        InvalidField: the category does not exist (422).
    """
    wanted = patch.changes()
    async with conn.transaction():
        row = await queries.select_layer_for_update(conn, slug)
        if row is None:
            raise _not_found(slug)
        old: dict[str, Any] = {k: (list(row[k]) if k == "keywords" else row[k]) for k in queries.EDITABLE}
        changes = {k: {"from": old[k], "to": v} for k, v in wanted.items() if old[k] != v}
        if not changes:
            return {}
        new = old | {k: c["to"] for k, c in changes.items()}
        titles = await queries.select_category_titles(conn, new["category"])
        if titles is None:
            raise InvalidField("category", f"Unknown category {new['category']!r}.")
        text = search_text_of(new["title_vi"], new["title_en"], new["keywords"], new["agency"], titles)
        await queries.update_layer_metadata(conn, int(row["id"]), new, text)
        await audit.record_async(
            conn, actor=actor, action="layer.update", target=slug, version_before=row["current_version"],
            version_after=row["current_version"], details={"changes": changes},
        )  # fmt: skip
        await events.notify(conn, events.CHANGED, slug)
    return changes


async def delete_layer(conn: asyncpg.Connection, slug: str, *, actor: str) -> None:
    """Remove the layer, its versions' tables and its view; :class:`NotFound` when unknown."""
    async with conn.transaction():
        row = await queries.select_layer_for_update(conn, slug)
        if row is None:
            raise _not_found(slug)
        tables = await queries.delete_layer(conn, int(row["id"]), slug)
        await audit.record_async(
            conn, actor=actor, action="layer.delete", target=slug, version_before=row["current_version"],
            details={"tables": tables, "visibility": row["visibility"], "title_vi": row["title_vi"]},
        )  # fmt: skip
        await events.notify(conn, events.CHANGED, slug)
